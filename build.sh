#!/usr/bin/env bash
# Builds dist/virt-p2v.js (one JS file, every npm dependency inside, runs with
# `deno run -A`, needs no network) and dist/virt-p2v, a single executable that
# runs on any x86_64 Linux 3.17 or newer with nothing else installed, with
# dist/virt-p2v.sha256 beside it. `./build.sh bundle` makes only the first.
# `./build.sh image [OPTIONS]` then makes the PXE boot image (see README), and
# `./build.sh disk -o OUTPUT [OPTIONS]` a bootable USB stick or disk image.
set -euo pipefail
cd "$(dirname "$0")"
out=dist
mkdir -p "$out"

# ssh2's optional native add-ons are loaded inside try/catch; leaving them out
# makes it use its pure-JS/WebAssembly code, which is what runs under Deno.
# Written under names of this build and renamed into place: two builds at
# once (tests do that) never leave a half-written file behind.
body="$out/.virt-p2v.body.$$.js"
bundle="$out/.virt-p2v.$$.js"
deno bundle --quiet --platform=deno --external '*.node' -o "$body" main.ts
# Some CommonJS code in ssh2 reads __dirname/__filename; an ES module has neither.
{
  echo 'const __filename = import.meta.filename ?? ""; const __dirname = import.meta.dirname ?? "";'
  cat "$body"
} > "$bundle"
rm -f "$body"
mv -f "$bundle" "$out/virt-p2v.js"
echo "built $out/virt-p2v.js ($(du -h "$out/virt-p2v.js" | cut -f1))"

if [ "${1:-}" = "bundle" ]; then
  exit 0
fi

# dist/virt-p2v, one executable that needs nothing installed. With Deno's
# runtime denort (DENORT_BIN), `deno compile` makes it. Without, it is our
# launcher (tools/single-file/launcher.c, static, musl) followed by the deno
# executable, the dynamic loader and libraries it needs, OpenSSL's libcrypto
# and the bundle, compressed (tools/single-file/pack.ts); it runs even where
# no glibc is installed. SINGLE_FILE_CODEC=zstd makes it ~30% smaller and
# ~0.15 s slower to start than lz4, the default. Boot images take zstd: there
# the file sits in RAM beside what it unpacks, the initramfs is smaller, and
# the start-up hides in the boot.
build_single_file() {
  if [ -n "${DENORT_BIN:-}" ]; then
    if [ ! -x "$DENORT_BIN" ]; then
      echo "build.sh: DENORT_BIN=$DENORT_BIN is not an executable file" >&2
      exit 1
    fi
    export DENORT_BIN
    # A small young generation makes V8 free the SSH packet buffers promptly:
    # ~55 MB less peak RSS while copying, at the same speed.
    deno compile --allow-all --no-check --v8-flags=--max-semi-space-size=1 \
      --output "$out/virt-p2v" "$out/virt-p2v.js"
  else
    local missing=() tool
    for tool in musl-gcc lz4 zstd; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    for tool in /usr/include/lz4frame.h /usr/include/zstd.h "/usr/lib/$(uname -m)-linux-gnu/liblz4.a" \
      "/usr/lib/$(uname -m)-linux-gnu/libzstd.a"; do
      [ -f "$tool" ] || missing+=("$tool")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      echo "build.sh: cannot build dist/virt-p2v: ${missing[*]} missing; run ./setup.sh (musl-tools, lz4, zstd, liblz4-dev, libzstd-dev)" >&2
      exit 1
    fi
    local scratch
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/virt-p2v-build.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the directory of this build
    trap "rm -rf '$scratch'" EXIT
    # musl's headers first; the two compression headers alone from the system.
    mkdir -p "$scratch/include"
    cp /usr/include/lz4frame.h /usr/include/lz4.h /usr/include/zstd.h /usr/include/zstd_errors.h "$scratch/include/"
    local libdir=/usr/lib/$(uname -m)-linux-gnu
    musl-gcc -static -O2 -s -Wall -Wextra -Werror -I"$scratch/include" \
      -o "$scratch/launcher" tools/single-file/launcher.c \
      "$libdir/libzstd.a" "$libdir/liblz4.a" -lpthread
    local from="virt-p2v $(sed -n 's/^export const VERSION = "\(.*\)";/\1/p' src/version.ts)"
    if commit=$(git rev-parse --short HEAD 2>/dev/null); then
      git diff --quiet HEAD 2>/dev/null || commit="$commit with local changes"
      from="$from, commit $commit"
    fi
    deno run --allow-all tools/single-file/pack.ts --launcher "$scratch/launcher" \
      --runtime "$(readlink -f "$(command -v deno)")" --program "$out/virt-p2v.js" --out "$out/virt-p2v" \
      --codec "${SINGLE_FILE_CODEC:-lz4}" --built-from "$from"
    rm -rf "$scratch"
    trap - EXIT
  fi
  (cd "$out" && sha256sum virt-p2v >".virt-p2v.sha256.$$" && mv -f ".virt-p2v.sha256.$$" virt-p2v.sha256)
  echo "built $out/virt-p2v ($(du -h "$out/virt-p2v" | cut -f1)) and $out/virt-p2v.sha256"
}

# `./build.sh image [OPTIONS]`: the PXE boot image (tools/make-boot-image.sh,
# which takes the options); `./build.sh disk -o OUTPUT [OPTIONS]`: a USB stick
# or disk image (tools/make-boot-disk.sh). Both carry dist/virt-p2v.
if [ "${1:-}" = "disk" ]; then
  shift
  # From the files of an earlier `./build.sh image`: nothing to compile.
  for arg in "$@"; do
    case "$arg" in
      --boot-files | --boot-files=* | --help | -h) exec tools/make-boot-disk.sh "$@" ;;
    esac
  done
  maker=tools/make-boot-disk.sh
elif [ "${1:-}" = "image" ]; then
  shift
  maker=tools/make-boot-image.sh
fi
[ -n "${maker:-}" ] && export SINGLE_FILE_CODEC=${SINGLE_FILE_CODEC:-zstd}
build_single_file
if [ -n "${maker:-}" ]; then
  exec "$maker" --program compiled "$@"
fi
