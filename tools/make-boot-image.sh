#!/usr/bin/env bash
# Makes a PXE boot image of virt-p2v: dist/p2v-vmlinuz and dist/p2v-initrd.img.
#
# The initramfs is a complete tiny system: busybox (shell, modprobe, udhcpc,
# poweroff), the kernel modules for common storage and network hardware, the
# program (dist/virt-p2v, the single file of ./build.sh, or the deno executable plus the bundle
# dist/virt-p2v.js), qemu-nbd, and the shared libraries they need. Its /init
# brings up the machine and runs virt-p2v on the console; see --help.
#
# Needs (Debian): linux-image-amd64, busybox-static, cpio, kmod, xz-utils,
# and qemu-utils for --with-qemu-nbd; for --iso also shim-signed,
# grub-efi-amd64-signed, grub-pc-bin, xorriso, mtools, dosfstools.
# `./build.sh image` builds the program first and then runs this script.
#
# With an injected key, the initramfs and the ISO are written mode 0600 (the
# key inside is 0600 too): whoever can read them has the key.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
prog=$(basename "$0")

usage() {
  cat <<EOF
Usage: $prog [OPTIONS]

Makes OUTPUT/p2v-vmlinuz and OUTPUT/p2v-initrd.img, a PXE boot image that runs
virt-p2v: unattended when p2v.server=... is on the kernel command line, the
dialog on the console otherwise.

Options:
  --output DIR               where to write the image (default: dist)
  --inject-ssh-identity FILE put this private key into the image as
                             /var/tmp/id_rsa; use it with
                             p2v.identity=file:///var/tmp/id_rsa
  --with-qemu-nbd            include qemu-nbd and its libraries (default)
  --without-qemu-nbd         leave qemu-nbd out (for a program that serves NBD itself)
  --program auto|compiled|deno
                             what runs virt-p2v in the image: the compiled
                             dist/virt-p2v, or deno + dist/virt-p2v.js; auto
                             (default) takes the compiled one when it exists
                             and is not older than dist/virt-p2v.js
  --deno PATH                the deno executable to put in the image
                             (default: the one on PATH)
  --kernel VERSION           kernel from /boot and /lib/modules (default: newest)
  --compress xz|gzip|zstd    initramfs compression (default: xz, the smallest)
  --iso                      also make OUTPUT/p2v.iso, for a CD: boots on BIOS,
                             UEFI and UEFI with Secure Boot (Debian's signed
                             shim, GRUB and kernel); for a USB stick, see
                             ./build.sh disk
  --append "KEYS"            p2v.* keys for the ISO menu's unattended entry
                             (then the default), e.g. "p2v.server=conv.example.com
                             p2v.identity=file:///var/tmp/id_rsa"
                             (--iso-append is the old name)
  --help                     this text
EOF
}

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

output=dist
identity=
with_qemu_nbd=1
program=auto
deno_bin=
kver=
compress=xz
make_iso=0
iso_append=
while [ $# -gt 0 ]; do
  case "$1" in
    --output) output=${2:?--output needs a directory}; shift 2 ;;
    --output=*) output=${1#*=}; shift ;;
    --inject-ssh-identity) identity=${2:?--inject-ssh-identity needs a file}; shift 2 ;;
    --inject-ssh-identity=*) identity=${1#*=}; shift ;;
    --with-qemu-nbd) with_qemu_nbd=1; shift ;;
    --without-qemu-nbd) with_qemu_nbd=0; shift ;;
    --program) program=${2:?--program needs auto, compiled or deno}; shift 2 ;;
    --program=*) program=${1#*=}; shift ;;
    --deno) deno_bin=${2:?--deno needs a path}; shift 2 ;;
    --deno=*) deno_bin=${1#*=}; shift ;;
    --kernel) kver=${2:?--kernel needs a version}; shift 2 ;;
    --kernel=*) kver=${1#*=}; shift ;;
    --compress) compress=${2:?--compress needs xz, gzip or zstd}; shift 2 ;;
    --compress=*) compress=${1#*=}; shift ;;
    --iso) make_iso=1; shift ;;
    --append | --iso-append) iso_append=${2?$1 needs kernel command line keys}; shift 2 ;;
    --append=* | --iso-append=*) iso_append=${1#*=}; shift ;;
    --help | -h) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

case "$compress" in
  xz) compressor=(xz --check=crc32 --threads=0 -6 -c) ;; # the kernel's xz reads crc32 only
  gzip) compressor=(gzip -9 -n -c) ;;
  zstd) compressor=(zstd -19 -T0 -q -c) ;;
  *) die "--compress must be xz, gzip or zstd, not '$compress'" ;;
esac
need() {
  command -v "$1" >/dev/null || die "$1 is not installed; $2"
}
need cpio "install the Debian package cpio"
need "${compressor[0]}" "install the Debian package ${compressor[0]/xz/xz-utils}"
need ldd "install the Debian package libc-bin"
need depmod "install the Debian package kmod"
if [ "$make_iso" = 1 ]; then
  # shellcheck source=tools/boot-media-lib.sh
  . "$here/tools/boot-media-lib.sh"
  check_boot_media_tools
  need xorriso "install the Debian package xorriso"
  check_menu_keys "$iso_append"
fi

# --- what goes in -------------------------------------------------------------

if [ -z "$kver" ]; then
  kver=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' |
    sort -V | tail -1)
  [ -n "$kver" ] || die "no kernel in /boot; install the Debian package linux-image-amd64"
fi
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[ -r "$kernel" ] || die "cannot read $kernel (run as root, or install linux-image-amd64)"
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep is missing; reinstall linux-image-$kver"

busybox=
for b in /usr/bin/busybox /bin/busybox; do
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || die "no static busybox; install the Debian package busybox-static"
# (A here-string, not a pipe: with pipefail, grep -q leaving early can make
# busybox die of SIGPIPE and the check fail.)
grep -qx udhcpc <<<"$("$busybox" --list)" || die "$busybox has no udhcpc applet"

bundle=$here/dist/virt-p2v.js
compiled=$here/dist/virt-p2v
case "$program" in
  auto)
    if [ -x "$compiled" ] && { [ ! -f "$bundle" ] || [ ! "$compiled" -ot "$bundle" ]; }; then
      program=compiled
    else
      program=deno
    fi
    ;;
  compiled) [ -x "$compiled" ] || die "$compiled does not exist; build it with ./build.sh" ;;
  deno) ;;
  *) die "--program must be auto, compiled or deno, not '$program'" ;;
esac
if [ "$program" = deno ]; then
  [ -f "$bundle" ] || die "$bundle does not exist; build it with ./build.sh bundle"
  if [ -z "$deno_bin" ]; then
    deno_bin=$(command -v deno) || die "deno is not on PATH; give --deno PATH"
  fi
  # npm's deno is a symlink (or a small launcher script) in front of the real ELF.
  deno_bin=$(readlink -f "$deno_bin")
  if ! head -c 4 "$deno_bin" | grep -q ELF; then
    for cand in "$(dirname "$deno_bin")/deno" "$(dirname "$deno_bin")/../lib/node_modules/deno/deno"; do
      if [ -f "$cand" ] && head -c 4 "$cand" | grep -q ELF; then deno_bin=$(readlink -f "$cand"); fi
    done
  fi
  head -c 4 "$deno_bin" | grep -q ELF || die "$deno_bin is not an ELF executable; give --deno PATH"
fi

qemu_nbd=
if [ "$with_qemu_nbd" = 1 ]; then
  qemu_nbd=$(command -v qemu-nbd) ||
    die "qemu-nbd is not installed; install qemu-utils, or give --without-qemu-nbd"
fi

if [ -n "$identity" ]; then
  [ -r "$identity" ] || die "cannot read the identity file $identity"
  grep -q "PRIVATE KEY" "$identity" || die "$identity does not look like a private key"
fi

# Drivers for the disks and NICs of common machines and hypervisors, and USB
# keyboards for the dialog. Their dependencies come from modules.dep; names
# the kernel does not have (built in, or renamed) are skipped.
MODULES=(
  # virtual hardware
  virtio_pci virtio_mmio virtio_blk virtio_scsi virtio_net virtio-rng
  vmw_pvscsi vmxnet3 hv_storvsc hv_netvsc xen-blkfront xen-netfront
  # SATA, IDE, SAS, RAID, NVMe, SCSI disks and CD-ROMs
  ahci ata_piix ata_generic pata_amd sata_nv sata_sil sata_via
  nvme sd_mod sr_mod sg mptspi mptsas mpt3sas megaraid_sas megaraid hpsa aacraid isci mvsas
  # USB: host controllers, disks, keyboards, USB network adapters
  xhci-pci ehci-pci ohci-pci uhci-hcd usb-storage uas usbhid hid-generic r8152 cdc_ether
  # Ethernet
  e1000 e1000e igb igc ixgbe i40e tg3 bnx2 bnx2x r8169 be2net sky2 forcedeth 8139too pcnet32
  atlantic
  # the firmware's variables, read-only (whether Secure Boot is on)
  efivarfs
)

# --- staging tree ---------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/p2v-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/root
mkdir -p "$stage"/usr/{bin,sbin,lib,lib64}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$stage/$d"; done
mkdir -p "$stage"/{dev,proc,sys,run,tmp,root,mnt,etc,var/tmp,var/log,usr/share/udhcpc}
mkdir -p "$stage"/usr/lib/virt-p2v "$stage"/etc/virt-p2v
chmod 1777 "$stage/tmp" "$stage/var/tmp"
chmod 0700 "$stage/root"

# Copies FILE into the stage at the same path (or DEST), following symlinks.
add_file() {
  local src=$1 dest=${2:-$1}
  [ -e "$stage$dest" ] && return 0
  mkdir -p "$stage$(dirname "$dest")"
  cp -L --preserve=mode "$src" "$stage$dest"
}

# Copies an ELF executable and every shared library it loads (ldd).
add_elf() {
  local src=$1 dest=${2:-$1} lib
  add_file "$src" "$dest"
  local libs
  libs=$(ldd "$src" 2>/dev/null) || true
  if grep -q "not found" <<<"$libs"; then
    die "$src needs libraries this machine does not have: $(grep "not found" <<<"$libs" | tr -s ' \n' ' ')"
  fi
  while read -r lib; do
    [ -n "$lib" ] && add_file "$lib"
  done < <(sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' <<<"$libs")
}

# busybox and its applets (sh, modprobe, udhcpc, ip, poweroff, ...).
add_file "$busybox" /usr/bin/busybox
while read -r applet; do
  target=$stage/$applet
  [ -e "$target" ] || [ -L "$target" ] || ln -s /usr/bin/busybox "$target"
done < <("$busybox" --list-full | sed 's:^/*::; s:^bin/:usr/bin/:; s:^sbin/:usr/sbin/:')

# The program.
if [ "$program" = compiled ]; then
  add_elf "$compiled" /usr/bin/virt-p2v
  program_desc="compiled $(du -h "$compiled" | cut -f1) dist/virt-p2v"
else
  add_elf "$deno_bin" /usr/lib/virt-p2v/deno
  add_file "$bundle" /usr/lib/virt-p2v/virt-p2v.js
  cat >"$stage/usr/bin/virt-p2v" <<'EOF'
#!/bin/sh
# virt-p2v in the boot image: the bundled program on the deno runtime.
export DENO_DIR=${DENO_DIR:-/var/cache/deno} DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
# The small semi-space keeps the peak memory of a disk copy ~55 MB lower.
exec /usr/lib/virt-p2v/deno run --allow-all --no-config --quiet \
  --v8-flags=--max-semi-space-size=1 /usr/lib/virt-p2v/virt-p2v.js "$@"
EOF
  chmod 0755 "$stage/usr/bin/virt-p2v"
  program_desc="deno $("$deno_bin" --version | awk 'NR==1{print $2}') + dist/virt-p2v.js"
fi
if [ -n "$qemu_nbd" ]; then
  add_elf "$qemu_nbd" /usr/bin/qemu-nbd
fi

# OpenSSL 3's libcrypto encrypts the SSH data (src/net/libcrypto.ts); without it the program uses slower code.
# The single file of ./build.sh carries its own.
if [ "$program" = deno ] || [ "$(tail -c 24 "$compiled" | head -c 8)" != VP2VSFX1 ]; then
  crypto_lib=$(ldconfig -p | awk '$1 == "libcrypto.so.3" && $2 != "(libc6)" { p = $NF } END { print p }')
  [ -n "$crypto_lib" ] && add_elf "$crypto_lib"
fi

# Nice to have for the diagnostics virt-p2v uploads (each is optional there).
for tool in lscpu lspci; do
  if path=$(command -v "$tool"); then add_elf "$path" "/usr/bin/$tool"; fi
done
[ -f /usr/share/misc/pci.ids ] && [ -e "$stage/usr/bin/lspci" ] && add_file /usr/share/misc/pci.ids
# Let the dynamic loader find libraries quickly (it also searches the multiarch dirs).
ldconfig -r "$stage" 2>/dev/null || true

# Kernel modules and their dependencies.
# (modules.dep: "kernel/…/name.ko[.xz]: dependency paths"; module names use _ and - alike.)
declare -A modpath=() moddeps=()
while IFS=: read -r path deps; do
  name=${path##*/}
  name=${name%%.ko*}
  modpath[${name//-/_}]=$path
  moddeps[$path]=$deps
done <"$moddir/modules.dep"
declare -A included=()
add_module_path() {
  local path=$1 dep
  [ -n "${included[$path]:-}" ] && return 0
  included[$path]=1
  for dep in ${moddeps[$path]:-}; do add_module_path "$dep"; done
}
missing_modules=()
for m in "${MODULES[@]}"; do
  key=${m//-/_}
  if [ -n "${modpath[$key]:-}" ]; then
    add_module_path "${modpath[$key]}"
  elif ! grep -q "/${m}.ko\|/${key}.ko" "$moddir/modules.builtin"; then
    missing_modules+=("$m")
  fi
done
for path in "${!included[@]}"; do
  add_file "$moddir/$path" "/usr/lib/modules/$kver/$path"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
  [ -f "$moddir/$f" ] && add_file "$moddir/$f" "/usr/lib/modules/$kver/$f"
done
depmod -b "$stage" "$kver" || die "depmod failed for the image's modules"
if [ ${#missing_modules[@]} -gt 0 ]; then
  echo "$prog: note: kernel $kver has no module ${missing_modules[*]} (skipped)" >&2
fi

# Configuration files.
cat >"$stage/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$stage/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'root:*:19000:0:99999:7:::' >"$stage/etc/shadow"
chmod 0600 "$stage/etc/shadow"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$stage/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$stage/etc/hosts"
: >"$stage/etc/resolv.conf"
printf '/bin/sh\n' >"$stage/etc/shells"
printf 'NAME="virt-p2v boot image"\nID=virt-p2v\n' >"$stage/etc/os-release"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  # For p2v.identity=https://... (deno also carries its own root store).
  add_file /etc/ssl/certs/ca-certificates.crt
fi
[ -f /usr/share/zoneinfo/UTC ] && add_file /usr/share/zoneinfo/UTC /etc/localtime

if [ -n "$identity" ]; then
  install -m 0600 "$identity" "$stage/var/tmp/id_rsa"
fi

# The boot logic: /init, the DHCP client script, the console launcher.
install -m 0755 "$here/tools/boot-image/init" "$stage/init"
install -m 0755 "$here/tools/boot-image/udhcpc.script" "$stage/usr/share/udhcpc/default.script"
install -m 0755 "$here/tools/boot-image/launch-virt-p2v" "$stage/usr/bin/launch-virt-p2v"
cat >"$stage/etc/virt-p2v/image-info" <<EOF
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kernel=$kver
program=$program_desc
qemu_nbd=$([ -n "$qemu_nbd" ] && echo yes || echo no)
identity=$([ -n "$identity" ] && echo /var/tmp/id_rsa || echo none)
EOF

# A quick check that the program starts with only what is in the image.
# (root only: a chroot, with /proc and /dev in a private mount namespace that
# vanishes with the command.)
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  # shellcheck disable=SC2016 # $1 is for the inner sh
  if ! version=$(unshare --mount --propagation private sh -c \
    'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
     exec chroot "$1" /usr/bin/virt-p2v --version' sh "$stage" 2>&1) ||
    [ "${version#virt-p2v }" = "$version" ]; then
    # (A DENORT_BIN that is really the deno CLI makes a binary that prints deno's version.)
    die "the program does not run inside the image: $version"
  fi
  rm -rf "$stage/var/cache/deno"
  echo "image runs: $version"
fi

# --- the archive -------------------------------------------------------------------

mkdir -p "$output"
# Files that carry the key are never readable by others, not even while written.
if [ -n "$identity" ]; then
  umask 077
fi
if [ "$(id -u)" = 0 ]; then
  # The kernel opens /dev/console for init before /dev is mounted.
  mknod -m 600 "$stage/dev/console" c 5 1
fi
uncompressed=$(du -sb "$stage" | cut -f1)
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc -R 0:0 --reproducible) | "${compressor[@]}" >"$output/p2v-initrd.img.tmp"
[ -n "$identity" ] && chmod 0600 "$output/p2v-initrd.img.tmp"
mv "$output/p2v-initrd.img.tmp" "$output/p2v-initrd.img"
cp "$kernel" "$output/p2v-vmlinuz.tmp"
chmod 0644 "$output/p2v-vmlinuz.tmp"
mv "$output/p2v-vmlinuz.tmp" "$output/p2v-vmlinuz"

human() { numfmt --to=iec-i --suffix=B --format=%.1f "$1"; }
echo "built $output/p2v-vmlinuz ($(human "$(stat -c %s "$output/p2v-vmlinuz")"), Linux $kver)"
echo "built $output/p2v-initrd.img ($(human "$(stat -c %s "$output/p2v-initrd.img")") $compress," \
  "$(human "$uncompressed") unpacked; $program_desc;" \
  "qemu-nbd: $([ -n "$qemu_nbd" ] && echo yes || echo no);" \
  "identity: $([ -n "$identity" ] && echo /var/tmp/id_rsa || echo none))"

if [ "$make_iso" = 1 ]; then
  # The same menu and Secure Boot chain as the disk of tools/make-boot-disk.sh.
  # The volume label, unique to this build, is how GRUB finds the ISO and
  # how the image's init knows which device it booted from.
  export MTOOLS_SKIP_CHECK=1
  warn_if_kernel_unsigned "$kernel"
  volid=VIRTP2V_$(date -u +%Y%m%d_%H%M%S)
  medium=LABEL=$volid
  iso=$work/iso
  stage_boot_tree "$iso" "$output/p2v-vmlinuz" "$output/p2v-initrd.img" "$medium" "$iso_append"
  # From a CD, the signed GRUB sees the ISO file system, not the FAT image it came from.
  mkdir -p "$iso/EFI/debian"
  write_efi_grub_cfg "$iso/EFI/debian/grub.cfg" "$medium"
  make_grub_pc_core "$iso/boot/grub/bios.img" i386-pc-eltorito "$medium"
  # The El Torito image for UEFI: a small FAT with the signed chain.
  efi_bytes=$(stat -c %s "$SHIM_EFI" "$GRUB_SIGNED_EFI" "$MOKMANAGER_EFI" | awk '{ s += $1 } END { print s }')
  make_efi_fat "$iso/boot/grub/efi.img" $((efi_bytes / 1024 + 1024)) "$(random_serial)" P2V-EFI "$medium"
  # BIOS: El Torito from a CD, GRUB's hybrid MBR from a USB stick; UEFI: the
  # FAT image, from a CD and (as an MBR partition) from a stick.
  xorriso -as mkisofs -quiet -o "$output/p2v.iso.tmp" -V "$volid" -r \
    -b boot/grub/bios.img -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \
    --grub2-mbr "$GRUB_PC_DIR/boot_hybrid.img" \
    --efi-boot boot/grub/efi.img -efi-boot-part --efi-boot-image --protective-msdos-label \
    "$iso" >"$work/xorriso.log" 2>&1 || die "xorriso failed: $(tail -5 "$work/xorriso.log")"
  [ -n "$identity" ] && chmod 0600 "$output/p2v.iso.tmp"
  mv "$output/p2v.iso.tmp" "$output/p2v.iso"
  key_note=
  [ -n "$identity" ] && key_note=" (it carries the key: mode 0600)"
  echo "built $output/p2v.iso ($(human "$(stat -c %s "$output/p2v.iso")"), volume $volid): a CD for" \
    "BIOS, UEFI and Secure Boot; p2v.* keys: --append, or 'e' in its boot menu$key_note"
fi
