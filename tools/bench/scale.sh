#!/usr/bin/env bash
# `make bench-scale`: does the cost of a call grow with the size of the tables?
# Starts a private MariaDB and all five services on free loopback ports, loads the demo
# data, grows customers, sales projects, work orders and contracts to 10,000 rows each
# (kefu-scale --mode=load), times the list, search and aggregate calls, the entitlement
# check and an escalation sweep round (kefu-scale --mode=measure), grows the same
# tables to 1,000,000 rows, times them again, and prints p50 at 1M / p50 at 10k per
# call (target: at most 1.3), the services' memory, the EXPLAIN of every SELECT the
# calls ran (explain-*.txt), flagging whole-table reads, and what the services'
# background tasks read per minute at each size (background-*.txt; the escalation and
# expiry sweeps are held off, the first is measured in process).
# Results stay in <build_dir>/bench-results/scale (or $KEFU_SCALE_OUT).
#
# usage: tools/bench/scale.sh <build_dir>
# env:   KEFU_SCALE_SMALL (10000), KEFU_SCALE_LARGE (1000000), KEFU_SCALE_SAMPLES (200),
#        KEFU_SCALE_BACKGROUND (65, seconds recorded with no calls at each size: more
#        than the gauge refresh interval, so every task runs at least once),
#        KEFU_SCALE_HOLD (seconds to keep everything up after the last size, to inspect),
#        KEFU_SCALE_CHECK=1: exit 1 unless every call ran without error at both sizes
#        with its statements and plans captured; never on speed (bench_scale_smoke)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: scale.sh <build_dir>}" && pwd)
small=${KEFU_SCALE_SMALL:-10000}
large=${KEFU_SCALE_LARGE:-1000000}
samples=${KEFU_SCALE_SAMPLES:-200}
scale="$build/tools/bench/kefu-scale"
# shellcheck source=tools/bench/system.sh
source "$root/tools/bench/system.sh"
system_init "${KEFU_SCALE_OUT:-$build/bench-results/scale}" "$scale"

# Sized as a production primary would be: the million-row tables and their indexes fit.
system_start_db 4G
# Every statement with its plan goes to the slow log while kefu-scale sets log_output to
# FILE (NONE otherwise): the slow-log settings are copied into each session when it
# connects, so they are on before the services connect.
"$root/tools/dev/mariadb.sh" sql "$work/mariadb" "SET GLOBAL long_query_time = 0, log_output = 'NONE',
  log_slow_verbosity = 'query_plan,explain', slow_query_log_file = '$work/slow.log', slow_query_log = 1"
# Their own sweeps stay quiet, so the captured statements are the measured calls'.
system_extra[contracts]=--sweep_interval_ms=3600000
system_extra[complaints]=--sweep_interval_ms=3600000
system_start_services

rss() {  # label: resident memory of every service, MB
  local line="$1"
  for s in "${services[@]}"; do
    line+=$(awk -v s="$s" '/^VmRSS/ { printf "\t%s %.1f", s, $2 / 1024 }' "/proc/${pid_of[$s]}/status")
  done
  echo "$line" >>"$out/memory.tsv"
}

echo "-- demo data" >&2
start=$(date +%s)
system_load_demo
echo "   $(($(date +%s) - start)) s" >&2
rss "idle, demo data"

# kefu_admin: the loopback admin without a password (tools/dev/mariadb.sh).
common=(--db_port="$db_port" --customers="$(addr customers)" --sales="$(addr sales)"
        --contracts="$(addr contracts)" --complaints="$(addr complaints)")
failed=0
for rows in "$small" "$large"; do
  label=$(awk -v n="$rows" 'BEGIN { if (n >= 1000000) printf "%gM", n / 1000000; else if (n >= 1000) printf "%gk", n / 1000; else print n }')
  echo "-- load to $label rows" >&2
  start=$(date +%s)
  KEFU_DB_PASSWORD="" "$scale" "${common[@]}" --mode=load --rows="$rows" | tee -a "$out/load.log" | awk 'NR % 5 == 0 || /loaded/' >&2
  echo "$label	$(($(date +%s) - start))" >>"$out/load-seconds.tsv"
  echo "-- background tasks at $label (${KEFU_SCALE_BACKGROUND:-65} s, no calls)" >&2
  KEFU_DB_PASSWORD="" "$scale" "${common[@]}" --mode=background --seconds="${KEFU_SCALE_BACKGROUND:-65}" \
    --label="$label" --summary="$out/summary.tsv" --explain="$out/background-$label.txt" >&2
  echo "-- measure at $label" >&2
  KEFU_DB_PASSWORD="" "$scale" "${common[@]}" --mode=measure --samples="$samples" --label="$label" --summary="$out/summary.tsv" \
    --explain="$out/explain-$label.txt" | tee "$out/measure-$label.txt" >&2 || failed=1
  rss "after $label"
done

if [ -n "${KEFU_SCALE_HOLD:-}" ]; then  # inspect the loaded system: MariaDB on $db_port, admin kefu_admin
  echo "holding for $KEFU_SCALE_HOLD s: mariadb 127.0.0.1:$db_port, socket $work/mariadb/mysqld.sock" >&2
  sleep "$KEFU_SCALE_HOLD"
fi
small_label=$(cut -f1 "$out/summary.tsv" | head -1)
large_label=$(cut -f1 "$out/summary.tsv" | tail -1)
scans=$(cat "$out"/explain-*.txt | grep -c 'FULL SCAN' || true)
{
  echo
  echo "Cost against table size: p50 of each call at $large_label rows / at $small_label rows (target <= 1.3)"
  printf '%-34s %10s %10s %6s %14s %14s\n' call "p50 $small_label" "p50 $large_label" ratio \
    "examined $small_label" "examined $large_label"
  awk -F'\t' -v a="$small_label" -v b="$large_label" '
    $3 == "p50_us" && $1 == a { s[$2] = $4; order[++n] = $2 }
    $3 == "p50_us" && $1 == b { l[$2] = $4 }
    $3 == "examined" && $1 == a { es[$2] = $4 }
    $3 == "examined" && $1 == b { el[$2] = $4 }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]
        if (!(k in l)) continue
        r = l[k] / s[k]
        printf "%-34s %8.3fms %8.3fms %6.2f %14s %14s%s\n", k, s[k] / 1000, l[k] / 1000, r, es[k], el[k],
          r <= 1.3 ? "" : "  > 1.3"
      }
    }' "$out/summary.tsv"
  echo
  echo "Rows examined per minute by each service's background tasks, no calls (background-*.txt):"
  awk -F'\t' -v a="$small_label" -v b="$large_label" '
    $3 == "background_rows_per_min" { v[$1, $2] = $4; if (!($2 in seen)) { seen[$2] = 1; users[++n] = $2 } }
    END { for (i = 1; i <= n; i++) printf "  %-18s %12d at %s %12d at %s\n", users[i], v[a, users[i]], a,
                                           v[b, users[i]], b }' "$out/summary.tsv"
  echo
  echo "Rows loaded (label, seconds): $(tr '\t\n' ' ;' <"$out/load-seconds.tsv")"
  echo "Resident memory per service, MB:"
  sed 's/^/  /' "$out/memory.tsv"
  echo "EXPLAIN: $scans whole-table reads flagged in $out/explain-*.txt"
} | tee "$out/table.txt"

if [ "${KEFU_SCALE_CHECK:-0}" = 1 ]; then
  [ "$failed" = 0 ] || { echo "a measured call failed" >&2; exit 1; }
  # Both sizes, every call timed at each, and each call's statements captured with a plan.
  probes=$(awk -F'\t' '$3 == "p50_us"' "$out/summary.tsv" | cut -f2 | sort -u | wc -l)
  [ "$(awk -F'\t' '$3 == "p50_us"' "$out/summary.tsv" | wc -l)" = $((probes * 2)) ] ||
    { echo "a call was not timed at both sizes" >&2; exit 1; }
  if grep -h '^## ' "$out"/explain-*.txt | grep -q ': 0 statements'; then
    echo "a call's statements were not captured" >&2; exit 1
  fi
  [ "$(cat "$out"/explain-*.txt | grep -c '^    ')" -gt 0 ] || { echo "no plans captured" >&2; exit 1; }
  echo "bench_scale_smoke: $probes calls timed at both sizes, with their statements and plans"
fi
exit "$failed"
