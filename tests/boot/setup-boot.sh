#!/usr/bin/env bash
# Installs what the boot media makers (tools/make-boot-image.sh and
# tools/make-boot-disk.sh: `./build.sh image [--iso]`, `./build.sh disk`) and
# their tests (tests/boot/, `deno task test:boot`) need on top of ./setup.sh,
# on a Debian 12 machine, as root: the kernel and busybox that go into the
# image, the archive tools, the signed boot chain and the disk tools, and QEMU
# with its firmware to boot it all.
set -euo pipefail

APT_PACKAGES=(
  linux-image-amd64       # the image's kernel (signed for Secure Boot) and modules
  busybox-static          # the image's shell, modprobe, udhcpc, findfs, poweroff
  cpio kmod xz-utils      # the initramfs archive, depmod, its compression
  qemu-utils              # qemu-nbd, put into the image; qemu-img for qcow2/vmdk disks
  util-linux mount        # unshare (the build-time check), lsblk, blockdev, losetup
  shim-signed             # shimx64.efi.signed (Microsoft-signed), mmx64.efi.signed
  grub-efi-amd64-signed   # Debian's signed GRUB for UEFI
  grub-pc-bin grub-common # GRUB for BIOS (boot.img, modules), grub-mkimage
  dosfstools mtools       # the FAT partition, built and filled without mounting
  gdisk fdisk             # sgdisk: GPT and hybrid MBR; sfdisk reads them back in the test
  xorriso                 # the ISO
  qemu-system-x86 ovmf    # boots the media in the test (TCG; SeaBIOS, OVMF with Secure Boot)
  pciutils                # lspci in the image, for the diagnostics it uploads
  e2fsprogs tmux          # the test's mounted device and its typed answers
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-boot.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup-boot.sh: ready ($(qemu-system-x86_64 --version | head -1))"
