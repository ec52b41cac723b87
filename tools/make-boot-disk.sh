#!/usr/bin/env bash
# Makes a bootable virt-p2v USB stick or disk image, like the original's
# virt-p2v-make-disk: GPT with a hybrid MBR, a BIOS boot partition holding
# GRUB's core image, and one FAT partition with the Secure Boot chain (shim,
# Debian's signed GRUB), the boot menu, Debian's signed kernel and the
# initramfs of tools/make-boot-image.sh. It boots on BIOS, on UEFI and on
# UEFI with Secure Boot on; the menu is a text file on the FAT partition.
#
# Built without loop devices or mounts: sgdisk on the image file, mtools into
# a separate FAT image that is spliced in, GRUB's boot and core images
# written to their sectors with dd. `./build.sh disk` builds the program
# first and then runs this script.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
prog=$(basename "$0")

usage() {
  cat <<EOF
Usage: $prog -o OUTPUT [OPTIONS]

Writes a virt-p2v boot disk to OUTPUT: an image file, or a block device
(/dev/sdX, a USB stick) whose contents are all replaced.

Options:
  -o, --output OUTPUT        the image file or block device to write
  --format raw|qcow2|vmdk    the image file's format (default: from the name,
                             .qcow2 or .vmdk, else raw); a device is always raw
  --append "KEYS"            p2v.* keys for the menu's unattended entry (then
                             the default), e.g. "p2v.server=conv.example.com
                             p2v.identity=file:///var/tmp/id_rsa"
  --inject-ssh-identity FILE put this private key into the initramfs as
                             /var/tmp/id_rsa
  --boot-files DIR           take p2v-vmlinuz and p2v-initrd.img from DIR (made
                             by ./build.sh image) instead of building them
  --yes                      overwrite a block device without asking
  --dry-run                  check OUTPUT and say what would be overwritten;
                             build and write nothing
  --help                     this text

Options of tools/make-boot-image.sh for the initramfs it builds: --program,
--deno, --kernel, --compress, --with-qemu-nbd, --without-qemu-nbd.
EOF
}

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

# shellcheck source=tools/boot-media-lib.sh
. "$here/tools/boot-media-lib.sh"

output=
format=
append=
identity=
boot_files=
assume_yes=0
dry_run=0
image_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o | --output) output=${2:?$1 needs a file or device}; shift 2 ;;
    --output=*) output=${1#*=}; shift ;;
    --format) format=${2:?--format needs raw, qcow2 or vmdk}; shift 2 ;;
    --format=*) format=${1#*=}; shift ;;
    --append) append=${2?--append needs kernel command line keys}; shift 2 ;;
    --append=*) append=${1#*=}; shift ;;
    --inject-ssh-identity) identity=${2:?--inject-ssh-identity needs a file}; shift 2 ;;
    --inject-ssh-identity=*) identity=${1#*=}; shift ;;
    --boot-files) boot_files=${2:?--boot-files needs a directory}; shift 2 ;;
    --boot-files=*) boot_files=${1#*=}; shift ;;
    --yes | -y) assume_yes=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    --program | --deno | --kernel | --compress)
      image_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --program=* | --deno=* | --kernel=* | --compress=* | --with-qemu-nbd | --without-qemu-nbd)
      image_args+=("$1"); shift ;;
    --help | -h) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[ -n "$output" ] || die "give the image file or device to write: -o /dev/sdX or -o FILE.img"
check_menu_keys "$append"
if [ -n "$boot_files" ]; then
  [ -z "$identity" ] || die "--inject-ssh-identity goes with building the initramfs;" \
    "give it to ./build.sh image when making $boot_files"
  [ ${#image_args[@]} -eq 0 ] || die "${image_args[0]} goes with building the initramfs, not with --boot-files"
  for f in p2v-vmlinuz p2v-initrd.img; do
    [ -r "$boot_files/$f" ] || die "$boot_files/$f is missing; make it with ./build.sh image --output $boot_files"
  done
fi

# --- the target -----------------------------------------------------------------

MiB=$((1024 * 1024))
target=$output
[ -e "$output" ] && target=$(readlink -f "$output")
device=0
[ -b "$target" ] && device=1

# The whole disk's kernel name and its partitions'.
device_names() {
  local sys=/sys/class/block/$1 part
  echo "$1"
  for part in "$sys"/*/partition; do
    [ -e "$part" ] && basename "$(dirname "$part")"
  done
  return 0
}

# Mount points of /dev/NAME (by device number, and by source for btrfs & co).
mounts_of() {
  local name=$1 majmin
  majmin=$(cat "/sys/class/block/$name/dev")
  awk -v mm="$majmin" -v src="/dev/$name" '{
    for (i = 7; i <= NF && $i != "-"; i++) {}
    if ($3 == mm || $(i + 2) == src) print $5
  }' /proc/self/mountinfo
}

# Refuses a device that is a partition, read-only, mounted, swap, or under
# device-mapper/MD (LVM, RAID, encryption) — which covers the disk of the
# running system.
check_device() {
  local dev=$1 name=${1#/dev/} n mnt swap holders
  local sys=/sys/class/block/$name
  [ -e "$sys" ] || die "$dev is not a disk the kernel lists in /sys/class/block"
  if [ -e "$sys/partition" ]; then
    local parent
    parent=$(basename "$(dirname "$(readlink -f "$sys")")")
    die "$dev is a partition of /dev/$parent; give the whole device, /dev/$parent (all of it is overwritten)"
  fi
  [ "$(cat "$sys/ro" 2>/dev/null)" != 1 ] || die "$dev is read-only (a write-protect switch?)"
  while read -r n; do
    while read -r mnt; do
      [ -n "$mnt" ] || continue
      [ "$mnt" = / ] && die "$dev holds the running system (/ is mounted from /dev/$n); refusing to overwrite it"
      die "$dev is in use: /dev/$n is mounted on $mnt; unmount it first"
    done < <(mounts_of "$n")
    while read -r swap; do
      [ "$(readlink -f "$swap")" = "/dev/$n" ] &&
        die "$dev is in use: /dev/$n is a swap area (swapoff /dev/$n first)"
    done < <(awk 'NR > 1 { print $1 }' /proc/swaps)
    holders=$(find "/sys/class/block/$n/holders/" -mindepth 1 -maxdepth 1 -printf "%f " 2>/dev/null)
    [ -z "$holders" ] ||
      die "$dev is in use: /dev/$n belongs to ${holders% } (LVM, RAID or encryption); stop that first"
  done < <(device_names "$name")
}

# One line about the device: size, vendor and model, how it is attached.
describe_device() {
  local name=${1#/dev/} sys size model tran=""
  sys=/sys/class/block/$name
  size=$(($(cat "$sys/size") * 512))
  model=$(cat "$sys/device/vendor" "$sys/device/model" 2>/dev/null | tr -s ' \n' ' ' | sed 's/ *$//')
  command -v lsblk >/dev/null && tran=$(lsblk -dno TRAN "$1" 2>/dev/null || true)
  printf '%s: %s, %s%s%s' "$1" "$(human_size "$size")" "${model:-unknown model}" \
    "${tran:+, $tran}" "$([ "$(cat "$sys/removable")" = 1 ] && echo ", removable")"
}

if [ "$device" = 1 ]; then
  [ -z "$format" ] || [ "$format" = raw ] || die "--format $format is for image files; a device is written raw"
  format=raw
  check_device "$target"
  echo "$prog: $(describe_device "$target")"
  if command -v lsblk >/dev/null; then
    echo "$prog: what is on it now:"
    lsblk -o NAME,SIZE,FSTYPE,LABEL,MOUNTPOINT "$target" 2>/dev/null | sed 's/^/    /' || true
  fi
  if [ "$dry_run" = 1 ]; then
    echo "$prog: --dry-run: $target would be overwritten with a virt-p2v boot disk; nothing was written"
    exit 0
  fi
  if [ "$assume_yes" = 0 ]; then
    [ -t 0 ] || die "refusing to overwrite $target without --yes (no terminal to ask on)"
    echo "$prog: everything on $target will be lost."
    printf 'Type %s to go on, anything else stops: ' "${target#/dev/}"
    read -r answer || answer=
    [ "$answer" = "${target#/dev/}" ] || [ "$answer" = "$target" ] || die "stopped; $target was not touched"
  fi
else
  case "$target" in
    /dev/*) die "$output is not a block device (is the stick plugged in? lsblk lists the disks)" ;;
  esac
  [ ! -d "$output" ] || die "$output is a directory; give a file name such as $output/p2v.img"
  [ -d "$(dirname "$output")" ] || die "the directory of $output does not exist"
  if [ -e "$output" ] && [ ! -f "$output" ]; then
    die "$output is neither a regular file nor a block device"
  fi
  if [ -z "$format" ]; then
    case "$output" in
      *.qcow2) format=qcow2 ;;
      *.vmdk) format=vmdk ;;
      *) format=raw ;;
    esac
  fi
  case "$format" in
    raw) ;;
    qcow2 | vmdk) command -v qemu-img >/dev/null || die "--format $format needs qemu-img (qemu-utils)" ;;
    *) die "--format must be raw, qcow2 or vmdk, not '$format'" ;;
  esac
  if [ "$dry_run" = 1 ]; then
    echo "$prog: --dry-run: would write a $format image to $output; nothing was written"
    exit 0
  fi
fi

command -v sgdisk >/dev/null || die "sgdisk is not installed; install the Debian package gdisk"
check_boot_media_tools
export MTOOLS_SKIP_CHECK=1

# --- the kernel and initramfs -----------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/p2v-disk.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -z "$boot_files" ]; then
  boot_files=$work/boot
  "$here/tools/make-boot-image.sh" --output "$boot_files" \
    ${identity:+--inject-ssh-identity "$identity"} "${image_args[@]}"
fi
kernel=$boot_files/p2v-vmlinuz
initrd=$boot_files/p2v-initrd.img
warn_if_kernel_unsigned "$kernel"
# An image is never more readable than the initramfs it carries (which holds
# the injected key when there is one: make-boot-image.sh makes it 0600).
secret=0
[ "$(($(stat -c %#a "$initrd") & 4))" = 0 ] && secret=1
[ "$secret" = 1 ] && umask 077

# --- the FAT partition ------------------------------------------------------------------

serial=$(random_serial)
uuid=${serial:0:4}-${serial:4:4}
medium=UUID=$uuid
stage=$work/fat
stage_boot_tree "$stage" "$kernel" "$initrd" "$medium" "$append"
cat >"$stage/README.txt" <<EOF
virt-p2v boot disk (made $(date -u +%Y-%m-%d) by $prog)

Boot a machine from it to convert that machine into a KVM guest. The boot
menu, with the p2v.* keys of each entry, is boot/grub/grub.cfg: a text file
you may edit with any editor. boot/vmlinuz is Debian's signed kernel, and
EFI/BOOT holds the Secure Boot chain (shim and Debian's signed GRUB).
EOF
# Content plus a tenth and 16 MiB for edits; FAT32 wants at least ~33 MiB.
content=$(du -sb --apparent-size "$stage" | cut -f1)
content=$((content + $(stat -c %s "$SHIM_EFI" "$GRUB_SIGNED_EFI" "$MOKMANAGER_EFI" | awk '{ s += $1 } END { print s }')))
fat_mib=$(((content + content / 10) / MiB + 16))
[ "$fat_mib" -ge 64 ] || fat_mib=64
fat=$work/fat.img
make_efi_fat "$fat" $((fat_mib * 1024)) "$serial" VIRT-P2V "$medium" 32
mcopy -s -i "$fat" "$stage/boot" "$stage/README.txt" ::/

# --- the disk -------------------------------------------------------------------------

# LBA 0: hybrid MBR; 1-33: GPT; 2048-4095: BIOS boot partition (GRUB's core
# image); from 2 MiB: the FAT partition; the backup GPT in the last MiB.
core_lba=2048
fat_start=4096
total_mib=$((2 + fat_mib + 1))
raw=$work/disk.img
truncate -s "$((total_mib * MiB))" "$raw"
# (sgdisk's -q makes 1.0.9 quietly write nothing: silence it with a redirect instead.)
sgdisk -o \
  -n 1:$core_lba:$((fat_start - 1)) -t 1:EF02 -c 1:"BIOS boot" \
  -n 2:$fat_start:$((fat_start + fat_mib * 2048 - 1)) -t 2:0700 -c 2:"virt-p2v" \
  "$raw" >/dev/null || die "sgdisk could not write the partition table"
# The FAT partition has the basic-data type, not the EFI system one, so that
# Windows and macOS show it for editing; firmware boots EFI/BOOT/BOOTX64.EFI
# from any FAT partition of a removable disk, as it does for Windows sticks.
# Old BIOSes look at the MBR only: there it is FAT32 (0x0c), active, and an
# 0xEE entry covers the GPT.
sgdisk -h 2:EE "$raw" >/dev/null || die "sgdisk could not write the hybrid MBR"
printf '\200' | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
printf '\014' | dd of="$raw" bs=1 seek=450 conv=notrunc status=none
dd if="$fat" of="$raw" bs=1M seek=$((fat_start / 2048)) conv=notrunc,sparse status=none
make_grub_pc_core "$work/core.img" i386-pc "$medium"
[ "$(stat -c %s "$work/core.img")" -le $(((fat_start - core_lba) * 512)) ] ||
  die "GRUB's core image does not fit the BIOS boot partition"
install_grub_pc "$raw" "$work/core.img" "$core_lba"
verify=$(sgdisk -v "$raw" 2>&1) || true
grep -q "No problems found" <<<"$verify" || die "the partition table does not verify: $verify"

# --- out ----------------------------------------------------------------------------

raw_size=$(stat -c %s "$raw")
if [ "$device" = 1 ]; then
  check_device "$target" # nothing may have mounted it while we built
  [ "$(($(cat "/sys/class/block/${target#/dev/}/size") * 512))" -ge "$raw_size" ] ||
    die "$target is smaller than the image ($(human_size "$raw_size"))"
  echo "$prog: writing $(human_size "$raw_size") to $target ..."
  dd if="$raw" of="$target" bs=4M conv=fsync status=none || die "writing $target failed"
  # The backup GPT belongs at the end of the device, not of the image.
  sgdisk -e "$target" >/dev/null 2>&1 || true
  sync
  blockdev --rereadpt "$target" 2>/dev/null || true
  echo "$prog: wrote $target: $(describe_device "$target")"
else
  tmp=$output.tmp.$$
  if [ "$format" = raw ]; then
    cp --sparse=always "$raw" "$tmp"
  else
    qemu-img convert -f raw -O "$format" "$raw" "$tmp" || die "qemu-img convert -O $format failed"
  fi
  [ "$secret" = 1 ] && chmod 0600 "$tmp"
  mv -f "$tmp" "$output"
  echo "$prog: built $output ($format, $(human_size "$(stat -c %s "$output")");" \
    "$(human_size "$raw_size") as a disk)"
fi
default_entry="the dialog on the screen"
[ -n "$append" ] && default_entry="convert unattended"
key_note=
[ "$secret" = 1 ] && key_note="; it carries the SSH key (files: mode 0600)"
echo "$prog: boot menu: boot/grub/grub.cfg on the FAT partition (label VIRT-P2V, UUID $uuid);" \
  "default entry: $default_entry$key_note"
