#!/usr/bin/env bash
# Builds dist/virt-p2v.js (one JS file, every npm dependency inside, runs with
# `deno run -A`, needs no network) and dist/virt-p2v (a single executable made
# by `deno compile`). The executable needs Deno's runtime, denort: give its
# path in DENORT_BIN, or let deno download it (needs access to dl.deno.land).
# `./build.sh image [OPTIONS]` then makes the PXE boot image (see README), and
# `./build.sh disk -o OUTPUT [OPTIONS]` a bootable USB stick or disk image.
set -euo pipefail
cd "$(dirname "$0")"
out=dist
mkdir -p "$out"

# ssh2's optional native add-ons are loaded inside try/catch; leaving them out
# makes it use its pure-JS/WebAssembly code, which is what runs under Deno.
deno bundle --quiet --platform=deno --external '*.node' -o "$out/virt-p2v.body.js" main.ts
# Some CommonJS code in ssh2 reads __dirname/__filename; an ES module has neither.
{
  echo 'const __filename = import.meta.filename ?? ""; const __dirname = import.meta.dirname ?? "";'
  cat "$out/virt-p2v.body.js"
} > "$out/virt-p2v.js"
rm -f "$out/virt-p2v.body.js"
echo "built $out/virt-p2v.js ($(du -h "$out/virt-p2v.js" | cut -f1))"

if [ "${1:-}" = "bundle" ]; then
  exit 0
fi

# A small young generation makes V8 free the SSH packet buffers promptly:
# ~55 MB less peak RSS while copying, at the same speed.
compile_args=(compile --allow-all --no-check --v8-flags=--max-semi-space-size=1
  --output "$out/virt-p2v" "$out/virt-p2v.js")
if [ -n "${DENORT_BIN:-}" ]; then
  if [ ! -x "$DENORT_BIN" ]; then
    echo "build.sh: DENORT_BIN=$DENORT_BIN is not an executable file" >&2
    exit 1
  fi
  export DENORT_BIN
fi

# `./build.sh image [OPTIONS]`: the PXE boot image (tools/make-boot-image.sh,
# which takes the options); `./build.sh disk -o OUTPUT [OPTIONS]`: a USB stick
# or disk image (tools/make-boot-disk.sh). Both carry dist/virt-p2v when deno
# compile works here (DENORT_BIN, or a download of denort), else deno and
# dist/virt-p2v.js.
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
if [ -n "${maker:-}" ]; then
  if [ -n "${DENORT_BIN:-}" ]; then
    deno "${compile_args[@]}"
    program=compiled
  elif deno "${compile_args[@]}" >/dev/null 2>&1; then
    program=compiled
  else
    echo "build.sh: no denort (set DENORT_BIN for the single binary); the image gets deno + $out/virt-p2v.js"
    program=deno
  fi
  [ "$program" = compiled ] && echo "built $out/virt-p2v ($(du -h "$out/virt-p2v" | cut -f1))"
  exec "$maker" --program "$program" "$@"
fi

if ! deno "${compile_args[@]}"; then
  cat >&2 <<'MSG'
build.sh: deno compile could not produce dist/virt-p2v.
  It needs the Deno runtime "denort" of the same version as this deno:
  - set DENORT_BIN=/path/to/denort (from the denort-x86_64-unknown-linux-gnu.zip
    release asset of this Deno version), or
  - run on a machine that can download it from dl.deno.land.
  dist/virt-p2v.js was built and runs anywhere with: deno run -A dist/virt-p2v.js
MSG
  exit 1
fi
echo "built $out/virt-p2v ($(du -h "$out/virt-p2v" | cut -f1))"
