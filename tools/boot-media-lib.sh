# shellcheck shell=bash
# Shared by tools/make-boot-image.sh (the ISO) and tools/make-boot-disk.sh
# (the USB stick / disk image): the GRUB boot menu, the Secure Boot chain on
# a FAT file system, and GRUB's BIOS core image. Sourced, not run; the caller
# defines die().
#
# The chain is Debian's signed one, so that firmware with Secure Boot on and
# Microsoft's keys (what servers ship with) starts it:
#   firmware → EFI/BOOT/BOOTX64.EFI (shim, signed by Microsoft)
#            → EFI/BOOT/grubx64.efi (GRUB, signed by Debian, checked by shim)
#            → its built-in prefix /EFI/debian: EFI/debian/grub.cfg (ours)
#            → the menu, /boot/grub/grub.cfg → the kernel (signed by Debian,
#              checked by GRUB through shim) and the initramfs (not checked).
# On BIOS, GRUB's core image finds the same menu by the same search.

# Where Debian's packages put the pieces.
SHIM_EFI=/usr/lib/shim/shimx64.efi.signed
MOKMANAGER_EFI=/usr/lib/shim/mmx64.efi.signed
GRUB_SIGNED_EFI=/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
GRUB_PC_DIR=/usr/lib/grub/i386-pc

# Fails unless everything for a medium that boots on BIOS, UEFI and Secure
# Boot is installed.
check_boot_media_tools() {
  local f
  for f in "$SHIM_EFI" "$MOKMANAGER_EFI"; do
    [ -r "$f" ] || die "$f is missing; install the Debian package shim-signed"
  done
  [ -r "$GRUB_SIGNED_EFI" ] || die "$GRUB_SIGNED_EFI is missing; install grub-efi-amd64-signed"
  [ -r "$GRUB_PC_DIR/boot.img" ] || die "$GRUB_PC_DIR is missing; install grub-pc-bin"
  command -v grub-mkimage >/dev/null || die "grub-mkimage is not installed; install grub-common"
  command -v mkfs.fat >/dev/null || die "mkfs.fat is not installed; install dosfstools"
  command -v mcopy >/dev/null || die "mcopy is not installed; install mtools"
}

# Warns when KERNEL carries no Authenticode signature (an empty certificate
# table in its PE header): GRUB refuses such a kernel under Secure Boot.
warn_if_kernel_unsigned() {
  local kernel=$1 pe magic dirs size
  # e_lfanew at 0x3c; the optional header follows the 24-byte PE header;
  # the certificate table is data directory 4 (at 128 bytes in PE32, 144 in PE32+).
  pe=$(od -An -tu4 -j 60 -N 4 "$kernel" | tr -d ' ')
  magic=$(od -An -tx2 -j $((pe + 24)) -N 2 "$kernel" | tr -d ' ')
  case "$magic" in
    020b) dirs=$((pe + 24 + 144)) ;;
    010b) dirs=$((pe + 24 + 128)) ;;
    *) dirs= ;;
  esac
  size=0
  [ -n "$dirs" ] && size=$(od -An -tu4 -j $((dirs + 4)) -N 4 "$kernel" | tr -d ' ')
  if [ "${size:-0}" = 0 ]; then
    echo "${prog:-boot media}: warning: $kernel is not signed; the medium will not boot with" \
      "Secure Boot on (use Debian's linux-image-amd64)" >&2
  fi
}

# Splits kernel command line keys the way the kernel and virt-p2v do (blanks
# separate words; double quotes group and are removed), one word per line.
kernel_words() {
  local text=$1 word="" in_word=0 in_quote=0 ch i
  for ((i = 0; i < ${#text}; i++)); do
    ch=${text:i:1}
    if [ "$in_quote" = 0 ] && [[ "$ch" == [[:blank:]] ]]; then
      [ "$in_word" = 1 ] && printf '%s\n' "$word"
      word="" in_word=0
      continue
    fi
    in_word=1
    if [ "$ch" = '"' ]; then
      in_quote=$((1 - in_quote))
    else
      word+=$ch
    fi
  done
  [ "$in_word" = 1 ] && printf '%s\n' "$word"
  return 0
}

# Fails on keys that cannot reach the kernel intact through GRUB: its linux
# command puts a backslash before every \ ' and " of an argument.
check_menu_keys() {
  local keys=$1
  case "$keys" in
    *$'\n'* | *$'\r'*) die "--append: the keys must be on one line" ;;
  esac
  local word
  while IFS= read -r word; do
    case "$word" in
      *\\* | *\'*)
        die "--append: ${word%%=*} contains a backslash or a single quote, which GRUB would" \
          "change on its way to the kernel; use other characters (or p2v.identity for a password)"
        ;;
    esac
  done < <(kernel_words "$keys")
  return 0
}

# One word for a GRUB script: bare when plain, else single-quoted (GRUB,
# like sh, expands nothing inside single quotes).
grub_word() {
  if [[ "$1" =~ ^[A-Za-z0-9._,:/=@+%~-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# The --append keys for a menu entry: every word (with_server=1), or all but
# p2v.server / p2v.remote.server (the dialog entries: those keys would make
# the run unattended).
menu_keys() {
  local keys=$1 with_server=$2 word out=""
  while IFS= read -r word; do
    case "${word%%=*}" in
      p2v.server | p2v.remote.server) [ "$with_server" = 1 ] || continue ;;
    esac
    out+=" $(grub_word "$word")"
  done < <(kernel_words "$keys")
  printf '%s' "$out"
}

# Writes the boot menu to FILE. MEDIUM is what the image's init looks for to
# know which device it booted from (UUID=… of the FAT, LABEL=… of the ISO);
# KEYS are the --append keys; the kernel and initramfs are /boot/vmlinuz and
# /boot/initrd.img on the menu's own file system.
write_boot_menu() {
  local file=$1 medium=$2 keys=$3 default=1
  [ -n "$keys" ] && default=0
  local base="ip=dhcp virt-p2v.medium=$medium"
  # The last console= is the one the program runs on; the kernel writes to
  # both, and init mirrors an unattended run's output to the others.
  local screen="console=ttyS0,115200 console=tty0" serial="console=tty0 console=ttyS0,115200"
  local all rest
  all=$(menu_keys "$keys" 1)
  rest=$(menu_keys "$keys" 0)
  cat >"$file" <<EOF
# virt-p2v boot menu (GRUB 2). It is a plain text file on the medium's FAT
# partition (/boot/grub/grub.cfg): edit the p2v.* keys on the "linux" lines
# with any text editor, on any system, then boot the machine from the medium.
#
# - "convert unattended": converts without asking, with the keys on its line
#   (p2v.server=HOST makes a run unattended; p2v.post=poweroff, the default,
#   switches the machine off afterwards).
# - the two dialog entries start the terminal dialog, pre-filled with the same
#   keys except p2v.server, on the screen or on the first serial port.
#
# Keys: see the virt-p2v README ("Converting a machine unattended"). A value
# with blanks goes in quotes: 'p2v.pre=echo hello' or "p2v.pre=echo hello".
# GRUB changes backslashes and single quotes inside values: avoid them.
# Keep ip=..., console=... and virt-p2v.medium=... (which tells virt-p2v that
# this medium is not a disk to convert). At the menu, 'e' edits an entry for
# one boot, and u, d, s choose an entry.

set default=$default
set timeout=5
if [ "\$grub_platform" = "pc" ]; then
  # UEFI firmware already shows its console on the serial port where it can.
  serial --unit=0 --speed=115200
  terminal_input console serial
  terminal_output console serial
fi

menuentry 'virt-p2v: convert unattended with the keys of this entry' --hotkey=u {
  linux /boot/vmlinuz $base $screen$all
  initrd /boot/initrd.img
}
menuentry 'virt-p2v: the dialog on the screen' --hotkey=d {
  linux /boot/vmlinuz $base $screen$rest
  initrd /boot/initrd.img
}
menuentry 'virt-p2v: the dialog on the serial console (ttyS0, 115200 baud)' --hotkey=s {
  linux /boot/vmlinuz $base $serial$rest
  initrd /boot/initrd.img
}
EOF
}

# GRUB commands that make the file system the menu is on GRUB's root: a
# search by the FAT's UUID or the ISO's volume label.
grub_search_root() {
  case "$1" in
    UUID=*) echo "search --no-floppy --fs-uuid --set=root ${1#UUID=}" ;;
    LABEL=*) echo "search --no-floppy --label --set=root ${1#LABEL=}" ;;
    *) die "internal: medium '$1' is neither UUID=… nor LABEL=…" ;;
  esac
}

# Makes a FAT image FILE of SIZE_KIB KiB with volume id SERIAL (8 hex digits)
# and label LABEL, holding the signed EFI chain and EFI/debian/grub.cfg.
make_efi_fat() {
  local file=$1 size_kib=$2 serial=$3 label=$4 medium=$5 fat_bits=${6:-}
  rm -f "$file"
  mkfs.fat ${fat_bits:+-F "$fat_bits"} -n "$label" -i "$serial" -C "$file" "$size_kib" >/dev/null ||
    die "mkfs.fat failed for $file"
  mmd -i "$file" ::/EFI ::/EFI/BOOT ::/EFI/debian
  mcopy -i "$file" "$SHIM_EFI" ::/EFI/BOOT/BOOTX64.EFI
  mcopy -i "$file" "$GRUB_SIGNED_EFI" ::/EFI/BOOT/grubx64.efi
  # shim starts MokManager when a key needs enrolling; without it, it would stop.
  mcopy -i "$file" "$MOKMANAGER_EFI" ::/EFI/BOOT/mmx64.efi
  local cfg
  cfg=$(mktemp)
  write_efi_grub_cfg "$cfg" "$medium"
  mcopy -i "$file" "$cfg" ::/EFI/debian/grub.cfg
  rm -f "$cfg"
}

# EFI/debian/grub.cfg: what Debian's signed GRUB reads first, from the device
# it was started from (its built-in prefix is /EFI/debian).
write_efi_grub_cfg() {
  local file=$1 medium=$2
  cat >"$file" <<EOF
# Read by Debian's signed GRUB (on UEFI): find the medium's file system, then its menu.
$(grub_search_root "$medium")
set prefix=(\$root)/boot/grub
source \$prefix/grub.cfg
EOF
}

# Fills DIR with what a medium's file system holds besides the EFI chain:
# boot/vmlinuz, boot/initrd.img, the menu boot/grub/grub.cfg (see
# write_boot_menu for MEDIUM and KEYS), and GRUB's BIOS modules in
# boot/grub/i386-pc (the core image holds only what it needs to find them).
stage_boot_tree() {
  local dir=$1 kernel=$2 initrd=$3 medium=$4 keys=$5
  mkdir -p "$dir/boot/grub/i386-pc"
  cp "$kernel" "$dir/boot/vmlinuz"
  cp "$initrd" "$dir/boot/initrd.img"
  write_boot_menu "$dir/boot/grub/grub.cfg" "$medium" "$keys"
  cp "$GRUB_PC_DIR"/*.mod "$GRUB_PC_DIR"/*.lst "$dir/boot/grub/i386-pc/"
}

# Makes GRUB's BIOS core image OUT in FORMAT (i386-pc for a disk,
# i386-pc-eltorito for a CD) that finds MEDIUM and loads its menu.
make_grub_pc_core() {
  local out=$1 format=$2 medium=$3 early
  early=$(mktemp)
  {
    grub_search_root "$medium"
    # shellcheck disable=SC2016 # a GRUB variable
    echo 'set prefix=($root)/boot/grub'
  } >"$early"
  grub-mkimage -O "$format" -o "$out" -c "$early" -p /boot/grub \
    biosdisk part_gpt part_msdos fat iso9660 search search_fs_uuid search_label ||
    die "grub-mkimage failed"
  rm -f "$early"
}

# 8 random hex digits (a FAT volume id), upper case.
random_serial() {
  od -An -N4 -tx4 /dev/urandom | tr -d ' \n' | tr a-f A-F
}

# Octal escapes of N as 8 little-endian bytes, for printf.
le64() {
  local n=$1 i out=""
  for ((i = 0; i < 8; i++)); do
    out+=$(printf '\\%03o' $(((n >> (8 * i)) & 255)))
  done
  printf '%s' "$out"
}

# Makes IMAGE boot on BIOS: GRUB's boot.img in the MBR's code area (the
# partition table stays) pointing at CORE written to sector CORE_LBA (the
# BIOS boot partition), as grub-bios-setup does for an embedded core image.
install_grub_pc() {
  local image=$1 core=$2 core_lba=$3 boot
  boot=$(mktemp)
  cp "$GRUB_PC_DIR/boot.img" "$boot"
  # boot.img: the sector of core.img's first block (offset 0x5c), and the
  # drive check turned into two NOPs: trust the drive number the BIOS gives.
  # shellcheck disable=SC2059 # the format is our escape string
  printf "$(le64 "$core_lba")" | dd of="$boot" bs=1 seek=$((0x5c)) conv=notrunc status=none
  printf '\220\220' | dd of="$boot" bs=1 seek=$((0x66)) conv=notrunc status=none
  # core.img's first sector loads the rest: its block list (start sector,
  # 8 bytes, at 0x1f4) points at the next sector; the length is already set.
  local patched
  patched=$(mktemp)
  cp "$core" "$patched"
  # shellcheck disable=SC2059
  printf "$(le64 $((core_lba + 1)))" | dd of="$patched" bs=1 seek=$((0x1f4)) conv=notrunc status=none
  dd if="$boot" of="$image" bs=440 count=1 conv=notrunc status=none
  dd if="$patched" of="$image" bs=512 seek="$core_lba" conv=notrunc status=none
  rm -f "$boot" "$patched"
}

human_size() {
  numfmt --to=iec-i --suffix=B --format=%.1f "$1"
}
