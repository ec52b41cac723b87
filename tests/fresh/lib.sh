# shellcheck shell=bash
# Sourced by both halves of the fresh-system check (fresh-debian.sh on the
# host, in-fresh-system.sh inside the fresh tree): messages and timed steps.
# Set FRESH_TAG (the message prefix) and FRESH_LOG_DIR (where each step's
# output goes) before using `step`.

say() { echo "$FRESH_TAG: $*"; }

die() {
  echo "$FRESH_TAG: error: $*" >&2
  exit 1
}

now_ms() {
  local us=${EPOCHREALTIME/./}
  echo $((us / 1000))
}

# Milliseconds as seconds with one decimal.
seconds() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# step NAME COMMAND [ARG…]: runs COMMAND with its output in $step_log, then
# prints NAME and how long it took, and on failure the end of its output.
# Returns COMMAND's exit status.
step_count=0
step() {
  local name=$1 start rc=0 ms
  shift
  step_count=$((step_count + 1))
  step_log="$FRESH_LOG_DIR/step-$step_count.log"
  start=$(now_ms)
  "$@" >"$step_log" 2>&1 || rc=$?
  ms=$(($(now_ms) - start))
  if [ "$rc" = 0 ]; then
    printf '%s: %-46s %6s s\n' "$FRESH_TAG" "$name" "$(seconds "$ms")"
  else
    printf '%s: %-46s %6s s  FAILED (exit %d); its last lines:\n' \
      "$FRESH_TAG" "$name" "$(seconds "$ms")" "$rc"
    tail -n 40 "$step_log" | sed 's/^/  | /'
  fi
  return "$rc"
}
