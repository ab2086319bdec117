#!/usr/bin/env bash
# `make bench-memory`: the resident memory of each service idle, after a million calls,
# and over ten minutes at half its peak rate.
# Starts a private MariaDB and all five services on free loopback ports and loads the demo
# data. Then, one service at a time, it drives that service's Get call with kefu-bench
# (customers: GetCustomer on customers it creates; the others read the demo records
# their List call returns first): its c=8 peak, closed loop at 16 in flight (the pool
# size) until a million calls have been answered (the peak's included), then open loop at
# half the peak, minute by minute. It reads each
# server's VmRSS and RssAnon (heap and stacks, without the pages of the binary and shared
# libraries) from /proc at each step, and the bytes malloc has handed out
# (kefu_heap_in_use_bytes on its /metrics: what a leak grows, where RssAnon also counts
# memory malloc keeps free), and prints the growth over the half-peak run, from its start
# to its end (target: under 10%).
# Results stay in <build_dir>/bench-results/memory (or $KEFU_MEMORY_OUT).
#
# usage: tools/bench/memory.sh <build_dir>
# env:   KEFU_MEMORY_SERVICES ("customers complaints sales contracts performance"),
#        KEFU_MEMORY_CALLS (1000000), KEFU_MEMORY_WINDOWS (10) of KEFU_MEMORY_WINDOW (60s),
#        KEFU_MEMORY_PEAK (10s, the c=8 run that sets the rate),
#        KEFU_MEMORY_CONCURRENCY (16, calls in flight while counting to the million),
#        KEFU_MEMORY_CHECK=1: exit 1 on a wrong reply, an error other than a refusal
#        (RESOURCE_EXHAUSTED: the server full), or a step not measured (the heap
#        included); never on memory or speed (bench_memory_smoke)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: memory.sh <build_dir>}" && pwd)
read -r -a measured <<<"${KEFU_MEMORY_SERVICES:-customers complaints sales contracts performance}"
calls=${KEFU_MEMORY_CALLS:-1000000}
windows=${KEFU_MEMORY_WINDOWS:-10}
window=${KEFU_MEMORY_WINDOW:-60s}
peak_run=${KEFU_MEMORY_PEAK:-10s}
# As many as the services' database pool (--db_pool_size, 16), so that every pooled
# connection has served calls before the half-peak run. At 8, the connections beyond the
# eighth were first used by the open loop's bursts, and their warm-up (with their
# prepared statements and buffers, about half a megabyte each in customers) counted as
# growth: customers grew 16% over three minutes against 4.7% with a pool of 8.
million_concurrency=${KEFU_MEMORY_CONCURRENCY:-16}
bench="$build/tools/bench/kefu-bench"
# shellcheck source=tools/bench/system.sh
source "$root/tools/bench/system.sh"
system_init "${KEFU_MEMORY_OUT:-$build/bench-results/memory}" "$bench"

system_start_db 1G
system_start_services
echo "-- demo data" >&2
system_load_demo

declare -A workload=([customers]=get_customer [complaints]=get_work_order [sales]=get_project
                     [contracts]=get_contract [performance]=get_staff)
# memory SERVICE STEP: one line of memory.tsv, VmRSS and RssAnon in kB, the threads (a
# server that grew by starting threads shows here, not as a leak), and malloc's bytes in
# use in kB.
memory() {
  local heap
  heap=$(($(metric "$1" kefu_heap_in_use_bytes) / 1024))
  awk -v s="$1" -v step="$2" -v heap="$heap" '/^VmRSS:/ { rss = $2 } /^RssAnon:/ { anon = $2 } /^Threads:/ { threads = $2 }
    END { printf "%s\t%s\t%d\t%d\t%d\t%d\n", s, step, rss, anon, threads, heap }' "/proc/${pid_of[$1]}/status" \
    >>"$out/memory.tsv"
}
for s in "${services[@]}"; do memory "$s" idle; done
: >"$out/runs.tsv"

failed=0
bench_run() {  # SERVICE LABEL [flags...]: one kefu-bench run, its line in runs.tsv
  local s=$1 label=$2
  shift 2
  # get_customer creates the customers it reads first: a few, so that its runs stay reads.
  if ! "$bench" --target="$(addr "$s")" --db_port="$db_port" --workload="${workload[$s]}" --warmup=0s \
      --setup_customers=20 \
      --summary="$out/runs-$s-$label.tsv" --json="$out/$s-$label.json" "$@" >>"$out/bench.log" 2>&1; then
    echo "   $s $label: kefu-bench failed (see $out/bench.log)" >&2
    failed=1
    return 0
  fi
  sed "s/^/$s\t$label\t/" "$out/runs-$s-$label.tsv" >>"$out/runs.tsv"
}
answered() {  # SERVICE LABEL-PREFIX: calls answered OK so far in those runs
  awk -F'\t' -v s="$1" -v p="$2" '$1 == s && index($2, p) == 1 { n += $17 } END { printf "%d", n }' "$out/runs.tsv"
}
for s in "${measured[@]}"; do
  [ -n "${workload[$s]:-}" ] || { echo "no workload for $s" >&2; exit 2; }
  echo "-- $s: ${workload[$s]}, peak at c=8" >&2
  bench_run "$s" peak --concurrency=8 --duration="$peak_run"
  peak=$(awk -F'\t' -v s="$s" '$1 == s && $2 == "peak" { printf "%d", $9 }' "$out/runs.tsv")
  [ "${peak:-0}" -gt 0 ] || { echo "   $s: no peak measured" >&2; failed=1; continue; }
  # Closed loop until the calls answered reach the count (peak run included), run after run.
  echo "   $peak calls/s; then closed loop at c=$million_concurrency until $calls calls are answered" >&2
  run=0
  while [ "$(answered "$s" calls)" -lt $((calls - $(answered "$s" peak))) ] && [ "$failed" = 0 ] && [ "$run" -lt 10 ]; do
    left=$((calls - $(answered "$s" peak) - $(answered "$s" calls)))
    run=$((run + 1))
    bench_run "$s" "calls-$run" --concurrency="$million_concurrency" --duration="$(((left + peak - 1) / peak))s"
  done
  memory "$s" calls
  half=$((peak > 1 ? peak / 2 : 1))
  echo "-- $s: $windows windows of $window at $half calls/s" >&2
  for i in $(seq 1 "$windows"); do
    bench_run "$s" "half-$i" --mode=open --rate="$half" --concurrency=8 --duration="$window"
    memory "$s" "half-$i"
  done
done

{
  echo "kefu memory: $(nproc) cores; per service, kB resident (VmRSS) and anonymous (RssAnon, heap and"
  echo "stacks): idle; after closed-loop calls at c=$million_concurrency until $calls were answered; over $windows x $window"
  echo "of open loop at half the c=8 peak, from its start (the previous figure) to its end"
  echo
  printf '%-12s %-16s %10s %9s %10s %10s %10s %8s %10s %10s %8s %10s %10s %8s\n' service call answered refused \
    "idle" "after" "half end" growth "anon after" "anon end" growth "heap after" "heap end" growth
  awk -F'\t' -v windows="$windows" '
    function pct(to, from) { return from > 0 ? sprintf("%7.1f%%", 100 * (to / from - 1)) : "       -" }
    FNR == NR { m[$1, $2] = $3; a[$1, $2] = $4; h[$1, $2] = $6; next }
    { ok[$1] += $17; refused[$1] += $20; errors[$1] += $8 - $20; name[$1] = $3
      if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END {
      for (i = 1; i <= n; i++) {
        s = order[i]; last = "half-" windows
        if (!((s, "calls") in m) || !((s, last) in m)) { printf "%-12s incomplete\n", s; continue }
        printf "%-12s %-16s %10d %9d %10d %10d %10d %8s %10d %10d %8s %10d %10d %8s%s\n", s, name[s], ok[s],
          refused[s], m[s, "idle"], m[s, "calls"], m[s, last], pct(m[s, last], m[s, "calls"]), a[s, "calls"],
          a[s, last], pct(a[s, last], a[s, "calls"]), h[s, "calls"], h[s, last], pct(h[s, last], h[s, "calls"]),
          errors[s] ? "  other errors: " errors[s] : ""
      }
    }' "$out/memory.tsv" "$out/runs.tsv"
  echo
  echo "anonymous kB (threads) / malloc in use kB, idle / after the calls / after each half-peak window:"
  awk -F'\t' '{ v[$1] = v[$1] " " $4 " (" $5 ") / " $6 } END { for (s in v) printf "  %-12s%s\n", s, v[s] }' \
    "$out/memory.tsv" | sort
} | tee "$out/table.txt"

if [ "${KEFU_MEMORY_CHECK:-0}" = 1 ]; then
  [ "$failed" = 0 ] || exit 1
  # A server refusing calls when full (RESOURCE_EXHAUSTED) is doing its job on a
  # loaded machine; any other error, or a wrong reply, is not.
  errors=$(awk -F'\t' '{ e += $8 - $20 } END { print e + 0 }' "$out/runs.tsv")
  [ "$errors" = 0 ] || { echo "$errors calls failed other than by refusal" >&2; exit 1; }
  for s in "${measured[@]}"; do
    grep -q "^$s	half-$windows	" "$out/memory.tsv" || { echo "$s: not measured to the end" >&2; exit 1; }
  done
  unread=$(awk -F'\t' '$6 <= 0 { print $1 " " $2 }' "$out/memory.tsv")
  [ -z "$unread" ] || { echo "kefu_heap_in_use_bytes not read from /metrics at: $unread" >&2; exit 1; }
  echo "bench_memory_smoke: ${measured[*]} answered without error, memory read at every step"
fi
exit "$failed"
