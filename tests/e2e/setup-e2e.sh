#!/usr/bin/env bash
# Installs what the end-to-end tests (tests/e2e/, `deno task test:e2e`) need
# on top of ./setup.sh, on a Debian 12 machine, as root: the real virt-v2v
# and libguestfs with a kernel for its appliance, and the tools that build
# the test guest (tests/fixtures/make-guest.sh). Then checks that the
# libguestfs appliance builds and boots (under TCG: KVM guests hang on the
# test machines), and builds the cached test guest.
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PACKAGES=(
  virt-v2v                # the conversion server's converter
  libguestfs-tools        # guestfish, virt-inspector, libguestfs-test-tool
  linux-image-amd64       # the kernel supermin puts into the libguestfs appliance
  qemu-system-x86         # the appliance runs in it
  qemu-utils              # qemu-img (output format checks)
  libvirt-daemon-system libvirt-clients # libvirtd and virsh: the -o libvirt scenario
  debootstrap e2fsprogs fdisk # the test guest: a Debian tree, mke2fs -d, sfdisk
  util-linux coreutils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-e2e.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
started=$SECONDS
if ! libguestfs-test-tool >/tmp/libguestfs-test-tool.log 2>&1; then
  tail -40 /tmp/libguestfs-test-tool.log >&2
  echo "setup-e2e.sh: libguestfs-test-tool failed (full log: /tmp/libguestfs-test-tool.log)" >&2
  exit 1
fi
echo "setup-e2e.sh: libguestfs appliance OK ($((SECONDS - started)) s)"

started=$SECONDS
image=$(tests/fixtures/make-guest.sh)
echo "setup-e2e.sh: test guest $image ($((SECONDS - started)) s)"
