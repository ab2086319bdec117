#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz, built with KEFU_FUZZ=ON) for a bounded number
# of executions each and reports one line per target.
#   tools/dev/fuzz.sh BUILD_DIR RUNS_PER_TARGET [service...]    (default: all five)
# Each target starts from a copy of its committed seed corpus (tests/fuzz/corpus/<svc>,
# never written to) and stops after RUNS_PER_TARGET executions, after
# KEFU_FUZZ_MAX_TIME seconds (default 900), or at the first crash. Crashing inputs go to
# BUILD_DIR/fuzz-artifacts/<svc>/, the full logs to BUILD_DIR/fuzz-logs/<svc>.log.
# Needs a MariaDB: KEFU_TEST_DB_PORT, or a private one is started (tools/dev/mariadb.sh)
# on a free port for the run and stopped at the end. Exits non-zero on any crash.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: fuzz.sh BUILD_DIR RUNS_PER_TARGET [service...]}
runs=${2:?usage: fuzz.sh BUILD_DIR RUNS_PER_TARGET [service...]}
shift 2
build=$(cd "$build" && pwd)
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(customers sales contracts complaints performance)
max_time=${KEFU_FUZZ_MAX_TIME:-900}

# Sanitizer settings (the caller's win); suppressions name third-party frames only.
supp=$root/tests/sanitizers
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp}
# Symbolized stacks: Debian's llvm-16 names its symbolizer with the version.
if ! command -v llvm-symbolizer >/dev/null && [ -x /usr/bin/llvm-symbolizer-16 ]; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/bin/llvm-symbolizer-16}
fi

work=$(mktemp -d /tmp/kefu-fuzz-XXXXXX)
db_dir=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [ -n "$db_dir" ]; then "$root/tools/dev/mariadb.sh" stop "$db_dir" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${KEFU_TEST_DB_PORT:-}" ]; then
  db_dir=$work/mariadb
  # shellcheck source=tools/dev/free-port.sh
  source "$root/tools/dev/free-port.sh"
  port=$(free_port)
  "$root/tools/dev/mariadb.sh" start "$db_dir" "$port" >/dev/null
  export KEFU_TEST_DB_PORT=$port
fi

failed=0
total_start=$(date +%s)
for svc in "${services[@]}"; do
  bin=$build/tests/fuzz/fuzz_$svc
  [ -x "$bin" ] || { echo "fuzz_$svc: not built ($bin); configure with -DKEFU_FUZZ=ON"; failed=1; continue; }
  corpus=$work/corpus-$svc
  mkdir -p "$corpus"
  cp "$root/tests/fuzz/corpus/$svc/"* "$corpus/"
  artifacts=$build/fuzz-artifacts/$svc
  mkdir -p "$artifacts" "$build/fuzz-logs"
  log=$build/fuzz-logs/$svc.log
  before=$(find "$artifacts" -type f | wc -l)
  start=$(date +%s)
  rc=0
  # The outer timeout only guards against a target that does not stop by itself.
  timeout --kill-after=30 $((max_time + 300)) "$bin" -runs="$runs" -max_total_time="$max_time" \
    -timeout=20 -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ -z "$execs" ]; then  # no final stats (crashed): the last progress line
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  execs=${execs:-0}
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  [ "$rc" -eq 0 ] || [ "$crashes" -gt 0 ] || crashes=1  # died without an artifact
  rate=$(( secs > 0 ? execs / secs : execs ))
  printf 'fuzz_%-12s %8d executions in %4d s (%d/s), %d crashes\n' "$svc" "$execs" "$secs" "$rate" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    failed=1
    echo "  exit code $rc; log: $log; crashing inputs: $artifacts/"
    grep -E 'fuzz_[a-z]+: |ERROR: |SUMMARY: |runtime error' "$log" | head -20 | sed 's/^/  /'
  fi
done
echo "fuzzing: ${#services[@]} targets, $runs runs each, $(( $(date +%s) - total_start )) s in all; $([ $failed -eq 0 ] && echo 'no crashes' || echo 'CRASHES')"
exit $failed
