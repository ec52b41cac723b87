#!/usr/bin/env bash
# Checks that the README's quick start works on a fresh Debian 12 that has
# nothing but apt: a `debootstrap --variant=minbase bookworm` tree, a clean
# copy of the checkout (its tracked files as committed, or as changed but not
# yet committed; never node_modules, dist or untracked files), and inside it,
# through chroot, tests/fresh/in-fresh-system.sh: `./setup.sh && deno task
# start -- --help`, then one unattended conversion against a loopback sshd.
# Prints the time of each step.
#
#   tests/fresh/fresh-debian.sh        (as root; `deno task test:fresh`)
#
# The minbase tree is built once per machine and cached by content in
# $P2V_E2E_CACHE (default /var/cache/virt-p2v-tests) as minbase-bookworm-HASH,
# HASH being a hash of this script; every run mounts an overlay over it, so
# it starts from the pristine tree (no apt lists, no .deb files) and leaves
# it untouched. Everything runs in private mount and PID namespaces: when the
# run ends, however it ends, its mounts go away and its processes (sshd
# included) are killed.
#
# FRESH_WITH_TEST_SUITE=1 also runs `deno task test` in the fresh system.
# P2V_E2E_MIRROR overrides the Debian mirror (default: this machine's).
# P2V_FRESH_KEEP=1 keeps the run's scratch dir (step logs, the tree's changes).
set -euo pipefail

SUITE=bookworm
RUN_TIMEOUT_SECONDS=1800
CHECKOUT_IN_TREE=/root/virt-p2v
# Settings of this machine's network that a fresh machine on the same site
# needs too (an HTTPS proxy that inspects traffic needs its CA trusted; the
# files they name exist in the tree once setup.sh has installed
# ca-certificates), and the registry mirror setup.sh honours.
PASSED_ENV=(NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE DENO_CERT
  DENO_TLS_CA_STORE http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY
  NPM_CONFIG_REGISTRY FRESH_WITH_TEST_SUITE TERM)

self=$(readlink -f "$0")
here=$(dirname "$self")
repo=$(cd "$here/../.." && pwd)
FRESH_TAG=fresh-debian
# shellcheck source=tests/fresh/lib.sh
. "$here/lib.sh"

# The part that runs in the new namespaces: $2 is the run's dir (with the
# checkout's tar file), $3 the cached tree.
if [ "${1:-}" = --in-namespaces ]; then
  run=$2
  tree=$3
  root="$run/root"
  mkdir -p "$root" "$run/rw"
  # The tree's changes (~450 MiB) in memory: dpkg's many fsyncs cost nothing
  # there and they vanish with the namespace. On disk when they must be
  # kept, or for the test suite, whose images take gigabytes.
  if [ "${P2V_FRESH_KEEP:-0}" != 1 ] && [ "${FRESH_WITH_TEST_SUITE:-0}" != 1 ]; then
    mount -t tmpfs -o mode=0755 tmpfs "$run/rw"
  fi
  mkdir -p "$run/rw/upper" "$run/rw/work"
  mount -t overlay overlay \
    -o "lowerdir=$tree,upperdir=$run/rw/upper,workdir=$run/rw/work" "$root"
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount --rbind /dev "$root/dev"
  # What an installed machine has and minbase lacks: a resolver setting and
  # /etc/hosts (the stub virt-v2v, like the real one, reads nbd://localhost),
  # and the site's own CA certificates, which ca-certificates adds to the
  # system bundle when setup.sh installs it.
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  fi
  mkdir -p "$root$CHECKOUT_IN_TREE"
  tar -xf "$run/checkout.tar" -C "$root$CHECKOUT_IN_TREE"
  install -m 0755 "$run/virt-p2v" "$root/usr/local/bin/virt-p2v"

  env_in_tree=(HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  for name in "${PASSED_ENV[@]}"; do
    [ -z "${!name:-}" ] || env_in_tree+=("$name=${!name}")
  done
  # Not exec'd: this shell stays the namespace's init and reaps what the
  # check leaves behind (sshd daemonises).
  chroot "$root" /usr/bin/env -i "${env_in_tree[@]}" \
    /bin/bash "$CHECKOUT_IN_TREE/tests/fresh/in-fresh-system.sh"
  exit
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, mounts, chroot)"
cache=${P2V_E2E_CACHE:-/var/cache/virt-p2v-tests}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
hash=$(sha256sum "$self" | cut -c1-16)
tree="$cache/minbase-$SUITE-$hash"

# The Debian mirror this machine's apt uses for $SUITE.
apt_mirror() {
  # shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null |
    awk -v suite="$SUITE" '$2 == suite { print $1; exit }'
}

install_host_tools() {
  command -v debootstrap >/dev/null && return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap ||
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap; }
}

# Builds $tree unless it is there. Runs with the tree's lock held exclusively.
build_tree() {
  [ -d "$tree" ] && { echo "cached: $tree"; return 0; }
  local mirror build
  mirror=${P2V_E2E_MIRROR:-$(apt_mirror)}
  [ -n "$mirror" ] || { echo "no '$SUITE' source in this machine's apt: set P2V_E2E_MIRROR"; return 1; }
  build=$(mktemp -d "$cache/minbase-build.XXXXXX")
  echo "debootstrap --variant=minbase $SUITE from $mirror"
  # In its own mount namespace: the /proc and /sys debootstrap mounts in the
  # tree cannot outlive it, even when it fails.
  if ! unshare --mount --propagation private \
    debootstrap --variant=minbase "$SUITE" "$build/root" "$mirror"; then
    rm -rf --one-file-system "$build"
    return 1
  fi
  # A fresh machine starts without package lists or downloaded packages, so
  # setup.sh must fetch them; the resolver setting is the host's of the day.
  rm -rf "$build/root"/var/cache/apt/archives/*.deb "$build/root"/var/lib/apt/lists/* \
    "$build/root/etc/resolv.conf"
  mv "$build/root" "$tree"
  rm -rf "$build"
  echo "built: $tree ($(du -sm "$tree" | cut -f1) MiB)"
}

# Trees of earlier versions of this script, unless a run still uses one.
remove_old_trees() {
  local old
  for old in "$cache/minbase-$SUITE-"*; do
    if [ ! -d "$old" ] || [ "$old" = "$tree" ]; then continue; fi
    # shellcheck disable=SC2094 # the lock file goes with its tree
    (flock -n -x 7 && rm -rf --one-file-system "$old" "$old.lock") 7>"$old.lock" || true
  done
}

# $work holds the step logs of this side and, in run/, the fresh system's
# changes to the tree.
work=
remove_run() {
  [ -n "$work" ] && [ -d "$work/run" ] || return 0
  # The namespaces took their mounts with them; this is for safety only.
  if grep -q " $work/run/" /proc/self/mounts; then umount -R -l "$work/run/root" || true; fi
  [ "${P2V_FRESH_KEEP:-0}" = 1 ] || rm -rf --one-file-system "$work/run"
}
cleanup() {
  [ -n "$work" ] || return 0
  remove_run
  if [ "${P2V_FRESH_KEEP:-0}" = 1 ]; then
    echo "$FRESH_TAG: kept $work (the fresh system's changes are in run/rw/upper/)" >&2
  else
    rm -rf --one-file-system "$work"
  fi
}
# The check runs in the background so that a signal to this script is
# handled at once (bash runs traps only between foreground commands) and
# passed on: the namespaces' processes die with their init.
checker=
on_signal() {
  echo "$FRESH_TAG: error: stopped by a signal" >&2
  if [ -n "$checker" ]; then
    kill -TERM "$checker" 2>/dev/null || true
    wait "$checker" 2>/dev/null || true
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

started=$(now_ms)
work=$(mktemp -d /var/tmp/p2v-fresh.XXXXXX)
mkdir "$work/run"
FRESH_LOG_DIR="$work"

step "host: debootstrap installed" install_host_tools || die "could not install debootstrap"
# A shared lock on the tree while we use it; the builder holds it exclusively.
exec 9>"$tree.lock"
flock -x 9
step "host: minbase $SUITE tree" build_tree || die "building the minbase tree failed"
say "$(tail -1 "$step_log")"
flock -s 9
remove_old_trees

# Tracked files with their uncommitted changes, so that a change to setup.sh
# can be tried before it is committed (in CI: exactly the commit).
revision=$(git -C "$repo" stash create 2>/dev/null || true)
what="HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ -n "$revision" ]; then what+=" + uncommitted changes"; else revision=HEAD; fi
step "host: clean copy of the checkout ($what)" \
  git -C "$repo" archive --format=tar -o "$work/run/checkout.tar" "$revision" ||
  die "git archive of $repo failed"
# The single file, built here as a user builds it, then run inside the fresh
# system before ./setup.sh has installed anything.
step "host: ./build.sh (dist/virt-p2v)" "$repo/build.sh" || die "./build.sh failed"
cp "$repo/dist/virt-p2v" "$work/run/virt-p2v"

timeout "$RUN_TIMEOUT_SECONDS" unshare --mount --pid --fork --kill-child --propagation private \
  "$self" --in-namespaces "$work/run" "$tree" &
checker=$!
rc=0
wait "$checker" || rc=$?
checker=
step "host: clean up" remove_run
total=$(seconds $(($(now_ms) - started)))
[ "$rc" = 0 ] || die "the check on a fresh Debian 12 failed (exit $rc) after $total s"
say "passed in $total s"
