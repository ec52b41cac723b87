#!/usr/bin/env bash
# Installs what virt-p2v and its test suite need on a Debian 12 machine, as
# root: the NBD/SSH tools from Debian and Deno from the npm registry.
set -euo pipefail
cd "$(dirname "$0")"

DENO_VERSION=2.9.6
APT_PACKAGES=(
  openssh-server openssh-client   # the conversion server in tests, ssh-keygen
  qemu-utils                      # qemu-nbd (our NBD export), qemu-img
  libnbd-bin nbdkit               # nbdcopy/nbdinfo: the NBD clients of the tests
  tmux                            # the terminal the dialog tests drive
  iproute2                        # ip: the dialog's network screen and its tests
  locales                         # localedef: the wrapper's Big5-locale test
  fuse3                           # nbdfuse mounts: the failing-disk test
  procps psmisc coreutils util-linux bash sudo
  curl ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v deno >/dev/null || [ "$(deno --version | awk 'NR==1{print $2}')" != "$DENO_VERSION" ]; then
  npm install -g --silent "deno@$DENO_VERSION"
fi
# Fetch the npm dependencies named in deno.json / deno.lock.
deno install --quiet
echo "setup.sh: ready ($(deno --version | head -1))"
