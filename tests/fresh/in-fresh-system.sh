#!/usr/bin/env bash
# The part of tests/fresh/fresh-debian.sh that runs inside the fresh Debian 12
# tree, as root, from a clean copy of the checkout: the README's quick start
# exactly as written, then one unattended conversion of a small random image
# against an OpenSSH server on loopback in the same system (the stub
# virt-v2v reads every byte through the tunnel), checked by its checksum.
# FRESH_WITH_TEST_SUITE=1 also runs `deno task test` here.
set -euo pipefail
cd "$(dirname "$0")/../.."
FRESH_TAG="fresh-debian (inside)"
FRESH_LOG_DIR=$(mktemp -d /var/log/p2v-fresh.XXXXXX)
# shellcheck source=tests/fresh/lib.sh
. tests/fresh/lib.sh

SERVER_USER=p2vfresh
SERVER_DIR=/srv/p2v-fresh
CLIENT_DIR=/root/p2v-fresh
DISK_MIB=8

sshd_pid_file="$SERVER_DIR/sshd.pid"
stop_sshd() {
  [ -s "$sshd_pid_file" ] || return 0
  local pid
  pid=$(cat "$sshd_pid_file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$sshd_pid_file"
}
trap stop_sshd EXIT

# The single file (dist/virt-p2v, built on the host) before anything is
# installed: it brings its own runtime and libraries.
command -v deno >/dev/null && die "deno is already installed in the fresh system"
step "virt-p2v --version (the single file, before ./setup.sh)" virt-p2v --version ||
  die "the single file does not run on a fresh Debian 12"
grep -q '^single file: ' "$step_log" || die "the single file's --version does not say what it carries"
step "virt-p2v p2v.dump_config_and_exit (the single file)" \
  virt-p2v --cmdline="p2v.server=conv.example.com p2v.dump_config_and_exit" ||
  die "the single file's dump of the configuration failed"
grep -q 'conv.example.com' "$step_log" || die "the single file's dump does not show p2v.server"

# The README: `./setup.sh && deno task start -- --help`.
step "./setup.sh" ./setup.sh || die "./setup.sh failed on a fresh Debian 12"
step "deno task start -- --help" deno task start -- --help ||
  die "'deno task start -- --help' failed after ./setup.sh"
grep -q '^Usage:' "$step_log" || die "'deno task start -- --help' printed no usage: $(head -3 "$step_log")"
cmp -s docs/virt-p2v.1 /usr/local/share/man/man1/virt-p2v.1 ||
  die "./setup.sh did not install the manual as /usr/local/share/man/man1/virt-p2v.1"

step "./setup.sh again (everything there)" ./setup.sh || die "a second ./setup.sh failed"
if grep -q 'installing' "$step_log"; then
  die "a second ./setup.sh installed something again: $(grep installing "$step_log")"
fi

if [ "${FRESH_WITH_TEST_SUITE:-0}" = 1 ]; then
  step "deno task test" deno task test || die "'deno task test' failed on the fresh system"
  sed 's/\x1b\[[0-9;]*m//g' "$step_log" | grep -E '^(ok|FAILED) \|' | sed 's/^/  /' || true
fi

# The conversion server: a user with an authorized key, the stub virt-v2v
# on its PATH, sshd on a free loopback port.
prepare_server() {
  mkdir -p "$SERVER_DIR/out" "$CLIENT_DIR" /run/sshd
  id -u "$SERVER_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$SERVER_USER"
  # useradd leaves the account locked, and sshd refuses locked accounts.
  usermod -p '*' "$SERVER_USER"
  chown "$SERVER_USER" "$SERVER_DIR/out"
  ssh-keygen -q -t ed25519 -N '' -C p2v-fresh-host -f "$SERVER_DIR/host_key"
  ssh-keygen -q -t ed25519 -N '' -C p2v-fresh-client -f "$CLIENT_DIR/id_p2v"
  install -m 0644 "$CLIENT_DIR/id_p2v.pub" "$SERVER_DIR/authorized_keys"
  install -m 0755 tests/fixtures/stub-virt-v2v /usr/local/bin/virt-v2v
  head -c $((DISK_MIB * 1024 * 1024)) /dev/urandom >"$CLIENT_DIR/disk.img"
}

free_port() {
  deno eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    console.log(l.addr.port); l.close();'
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Another test on this machine may take the port between our look and
# sshd's bind: try a few.
start_sshd() {
  local attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$SERVER_DIR/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $SERVER_DIR/host_key
PidFile $sshd_pid_file
AuthorizedKeysFile $SERVER_DIR/authorized_keys
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
AllowUsers $SERVER_USER
Subsystem sftp internal-sftp
EOF
    if /usr/sbin/sshd -f "$SERVER_DIR/sshd_config" -E "$SERVER_DIR/sshd.log"; then
      for _ in $(seq 100); do
        listening "$port" && echo "sshd on 127.0.0.1:$port" && return 0
        sleep 0.1
      done
      stop_sshd
    fi
    echo "attempt $attempt on port $port failed: $(tail -1 "$SERVER_DIR/sshd.log" 2>/dev/null)"
  done
  return 1
}

step "conversion server: user, keys, image, stub" prepare_server || die "preparing the server failed"
source_sum=$(sha256sum "$CLIENT_DIR/disk.img" | cut -d' ' -f1)
step "conversion server: sshd" start_sshd || die "sshd did not start"
fingerprint=$(ssh-keygen -l -E sha256 -f "$SERVER_DIR/host_key.pub" | awk '{ print $2 }')

post_marker="$CLIENT_DIR/post-ran"
cmdline="p2v.server=127.0.0.1 p2v.port=$port p2v.username=$SERVER_USER"
cmdline+=" p2v.identity=file://$CLIENT_DIR/id_p2v p2v.hostkey=$fingerprint"
cmdline+=" p2v.disks=$CLIENT_DIR/disk.img p2v.name=fresh p2v.o=local p2v.os=$SERVER_DIR/out"
cmdline+=" p2v.post=\"touch $post_marker\""
step "unattended conversion of $DISK_MIB MiB" \
  timeout 300 deno task start -- --cmdline="$cmdline" || die "the unattended conversion failed"
grep -q 'Conversion finished successfully' "$step_log" || die "the conversion did not report success"
[ -e "$post_marker" ] || die "p2v.post did not run after a successful conversion"

[ "$(sha256sum "$CLIENT_DIR/disk.img" | cut -d' ' -f1)" = "$source_sum" ] ||
  die "the source image changed during the conversion"
copied_sum=$(sha256sum "$SERVER_DIR/out/fresh-sda" | cut -d' ' -f1)
[ "$source_sum" = "$copied_sum" ] ||
  die "the copy on the server differs from the source (sha256 $copied_sum, expected $source_sum)"
say "the disk arrived byte-identical (sha256 $source_sum)"

# The same conversion with the single file (8 MiB, same server).
rm -f "$SERVER_DIR/out/fresh-sda" "$post_marker"
step "unattended conversion with the single file" \
  timeout 300 virt-p2v --cmdline="$cmdline" || die "the single file's conversion failed"
grep -q 'Conversion finished successfully' "$step_log" || die "the single file's conversion did not report success"
[ "$(sha256sum "$SERVER_DIR/out/fresh-sda" | cut -d' ' -f1)" = "$source_sum" ] ||
  die "the single file's copy on the server differs from the source"
say "the single file's conversion arrived byte-identical"

# The server's session processes end a moment after the client has gone.
for _ in $(seq 50); do
  leftover=$(pgrep -a -u "$SERVER_USER" || true)
  [ -n "$leftover" ] || break
  sleep 0.1
done
[ -z "$leftover" ] || die "processes of the conversion left on the server: $leftover"
stop_sshd
