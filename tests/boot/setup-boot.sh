#!/usr/bin/env bash
# Installs what the boot-image maker (tools/make-boot-image.sh, `./build.sh
# image`) and its test (tests/boot/, `deno task test:boot`) need on top of
# ./setup.sh, on a Debian 12 machine, as root: the kernel and busybox that go
# into the image, the archive tools, and QEMU to boot it.
set -euo pipefail

APT_PACKAGES=(
  linux-image-amd64       # the image's kernel and modules
  busybox-static          # the image's shell, modprobe, udhcpc, poweroff
  cpio kmod xz-utils      # the initramfs archive, depmod, its compression
  qemu-utils              # qemu-nbd, put into the image
  util-linux              # unshare, for the build-time check of the image
  qemu-system-x86         # boots the image in the test (TCG)
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
