#!/usr/bin/env bash
# Installs what virt-p2v and its test suite need on a Debian 12 machine, as
# root: the NBD/SSH tools from Debian, Deno from the npm registry, and the
# npm dependencies. Works on a minimal system with nothing but apt; skips
# whatever is already there, so it can be run again at any time.
set -euo pipefail
cd "$(dirname "$0")"

DENO_VERSION=2.9.6
# The npm package `deno` is only a launcher: the executable is in one
# package per platform (its optionalDependencies). We take that package
# straight from the registry, so neither Node nor npm is needed. The values
# are the registry's "integrity" of each tarball (sha512, base64).
declare -A DENO_PACKAGE_SHA512=(
  [x64]=3md4TKLCuzsLDmfOoC5KN7NAZaxSVkMgm64vg6foD00JBADCpYS2/5QqXfzgnP5ZQz3iLP9vBQJtEgc116OAoQ==
  [arm64]=poqhoH9B3nYloigEMPT5t8HY+wBeiuea1An5Q7fqgJzP0SYmWsoS/oUnWO/pEiA4ofzIBy1Elt/in58xKtxEoQ==
)
DENO_TARGET_DIR=/usr/local/bin
# The same variable npm and `deno install` read, so a mirror serves both.
NPM_REGISTRY=${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}
NPM_REGISTRY=${NPM_REGISTRY%/}

APT_PACKAGES=(
  openssh-server openssh-client   # the conversion server in tests, ssh-keygen
  qemu-utils                      # qemu-nbd (our NBD export), qemu-img
  libnbd-bin nbdkit               # nbdcopy/nbdinfo: the NBD clients of the tests
  tmux                            # the terminal the dialog tests drive
  iproute2                        # ip: the dialog's network screen and its tests
  locales                         # localedef: the wrapper's Big5-locale test
  fuse3                           # nbdfuse mounts: the failing-disk test
  lvm2 mdadm fdisk                # volume groups and RAID arrays on loop devices: disk groups
  procps psmisc coreutils util-linux bash sudo
  musl-tools lz4 zstd liblz4-dev libzstd-dev  # ./build.sh: the single file dist/virt-p2v
  busybox-static                  # the single file's test in a busybox-only root
  curl ca-certificates            # fetching Deno over HTTPS
)

fail() {
  echo "setup.sh: error: $*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" = 0 ] || fail "$1 needs root: run it as root (or with sudo)"
}

scratch=$(mktemp -d /tmp/virt-p2v-setup.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# apt-get's own messages go to a log; on failure the first "E:" line of it
# is enough to say what went wrong.
apt_get() {
  local log="$scratch/apt.log"
  if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$log" 2>&1; then
    local reason
    reason=$(grep -m1 '^E: ' "$log" || tail -1 "$log")
    fail "apt-get $1 failed: ${reason#E: }"
  fi
}

install_apt_packages() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    fail "apt-get and dpkg-query not found: this script is for Debian 12"
  fi
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  need_root "installing ${missing[*]}"
  echo "setup.sh: installing ${missing[*]}"
  apt_get update
  apt_get install -y --no-install-recommends "${missing[@]}"
}

# The version `deno` on PATH reports, or nothing when there is none that runs.
deno_version_on_path() {
  command -v deno >/dev/null || return 0
  deno --version 2>/dev/null | awk 'NR == 1 { print $2 }' || true
}

deno_platform() {
  case "$(uname -m)" in
    x86_64) echo x64 ;;
    aarch64) echo arm64 ;;
    *) fail "no Deno package for $(uname -m) on the npm registry: install Deno $DENO_VERSION by hand" ;;
  esac
}

install_deno() {
  local platform expected actual url tarball
  platform=$(deno_platform)
  need_root "installing Deno into $DENO_TARGET_DIR"
  url="$NPM_REGISTRY/@deno/linux-$platform-glibc/-/linux-$platform-glibc-$DENO_VERSION.tgz"
  tarball="$scratch/deno.tgz"
  echo "setup.sh: installing Deno $DENO_VERSION into $DENO_TARGET_DIR from $url"
  curl --fail --silent --show-error --location --retry 3 --output "$tarball" "$url" \
    2>"$scratch/curl.log" || fail "downloading $url failed: $(tail -1 "$scratch/curl.log")"
  expected=$(printf '%s' "${DENO_PACKAGE_SHA512[$platform]}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  actual=$(sha512sum "$tarball" | cut -d' ' -f1)
  [ "$actual" = "$expected" ] ||
    fail "$url does not match the pinned sha512 (got $actual): not installing it"
  tar -xzf "$tarball" -C "$scratch" package/deno 2>"$scratch/tar.log" ||
    fail "unpacking $url failed: $(tail -1 "$scratch/tar.log")"
  mkdir -p "$DENO_TARGET_DIR"
  # Replace the file in one step, so a running deno keeps its (old) inode.
  install -m 0755 "$scratch/package/deno" "$DENO_TARGET_DIR/.deno.new"
  mv -f "$DENO_TARGET_DIR/.deno.new" "$DENO_TARGET_DIR/deno"
  hash -r
  local got
  got=$(deno_version_on_path)
  [ "$got" = "$DENO_VERSION" ] ||
    fail "Deno $DENO_VERSION is in $DENO_TARGET_DIR, but 'deno' on PATH is $(command -v deno || echo missing) (${got:-no version}): put $DENO_TARGET_DIR first in PATH"
}

# The manual, so that `man virt-p2v` works. Only copied when it differs,
# and only as root; without man-db (a minimal system) it is still put in
# place for when man is installed later.
MAN_DIR=/usr/local/share/man/man1
install_manual() {
  local target="$MAN_DIR/virt-p2v.1"
  if [ -f "$target" ] && cmp -s docs/virt-p2v.1 "$target"; then
    return 0
  fi
  need_root "installing the manual into $MAN_DIR"
  mkdir -p "$MAN_DIR"
  install -m 0644 docs/virt-p2v.1 "$MAN_DIR/.virt-p2v.1.new"
  mv -f "$MAN_DIR/.virt-p2v.1.new" "$target"
  echo "setup.sh: installed the manual as $target (man virt-p2v)"
  if command -v mandb >/dev/null; then
    mandb --quiet "${MAN_DIR%/man1}" >/dev/null 2>&1 || true
  fi
}

# Fetches the npm dependencies named in deno.json / deno.lock. On failure,
# Deno's first error line and its first cause say what went wrong.
install_npm_dependencies() {
  local log="$scratch/deno-install.log" what cause
  NO_COLOR=1 deno install --quiet 2>"$log" && return 0
  what=$(grep -m1 '^error: ' "$log" || tail -1 "$log")
  cause=$(grep -m1 -E '^ +0: ' "$log" | sed -E 's/^ +0: //')
  fail "deno install (the npm dependencies) failed: ${what#error: }${cause:+ ($cause)}"
}

install_apt_packages
[ "$(deno_version_on_path)" = "$DENO_VERSION" ] || install_deno
install_npm_dependencies
install_manual
echo "setup.sh: ready ($(deno --version | head -1))"
