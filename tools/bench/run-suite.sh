#!/usr/bin/env bash
# `make bench`: the standard kefu-bench suite. Starts a private MariaDB and the real
# kefu-customers binary (and kefu-complaints, for CreateWorkOrder) on free loopback
# ports, runs the floors (health Check through
# the same server; point select and durable insert through Connector/C++ at the same
# pool size; fdatasync in the database's data directory) and the service calls at
# concurrency 1 and 8, then each of them open-loop at half its closed-loop c=8 rate (beside
# the host's wake-up lateness and the health check at the same rate), the
# cost of metrics (servers with and without them, alternately), a sweep of pool sizes,
# the server's memory idle and after a million calls, and GetCustomer at two and ten
# times its peak (overload); prints one table with the ratios to the floors, the statements
# prepared per run and those figures.
# Results (one JSON per run, summary.tsv, table.txt) stay in <build_dir>/bench-results.
#
# With `soak` (make reliability), instead: the peak of GetCustomer and CreateCustomer at 8
# in flight, then both in open loop at once, each at a quarter of its own peak (half the
# server's capacity together), window after window,
# with the server's resident memory after each; fails on any error, on more than 0.1% of
# the calls refused (RESOURCE_EXHAUSTED: the server full during a stall), or on its
# anonymous memory (heap and stacks) growing more than 10% from the first window to the last.
#
# usage: tools/bench/run-suite.sh <build_dir> [soak]
# env:   KEFU_BENCH_DURATION (default 10s), KEFU_BENCH_WARMUP (1s), KEFU_BENCH_POOL (16),
#        KEFU_BENCH_CONCURRENCY (default "1 8"); soak: KEFU_SOAK_WINDOWS (6),
#        KEFU_SOAK_WINDOW (5m: 30 minutes in all), KEFU_SOAK_WARMUP (30s, before the first)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run-suite.sh <build_dir>}" && pwd)
duration=${KEFU_BENCH_DURATION:-10s}
warmup=${KEFU_BENCH_WARMUP:-1s}
pool=${KEFU_BENCH_POOL:-16}
levels=${KEFU_BENCH_CONCURRENCY:-1 8}
service="$build/services/customers/kefu-customers"
bench="$build/tools/bench/kefu-bench"
for f in "$service" "$bench"; do
  [ -x "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done

out="$build/bench-results"
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/kefu-bench-XXXXXX)
pid=""
more_pids=()  # servers started for the comparisons
# shellcheck source=tools/dev/free-port.sh
source "$root/tools/dev/free-port.sh"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in $pid "${more_pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  "$root/tools/dev/mariadb.sh" stop "$work/mariadb" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db_port=$(free_port)
export KEFU_DEV_DB_PASSWORD=kefu-bench KEFU_DB_PASSWORD=kefu-bench
# Sized as a production primary would be (the dev default is for small test data): a soak
# creates some 600,000 customers with their audit and request-id rows.
export KEFU_DB_BUFFER_POOL=${KEFU_DB_BUFFER_POOL:-2G} KEFU_DB_REDO_LOG=${KEFU_DB_REDO_LOG:-1G}
"$root/tools/dev/mariadb.sh" start "$work/mariadb" "$db_port" >/dev/null
"$root/tools/dev/mariadb.sh" provision "$work/mariadb" customers complaints

# Plaintext on loopback (floors and RPCs share the transport, so the ratios hold for TLS
# too), tokens signed with a throw-away key pair.
"$root/tools/dev/gen-pki.sh" "$work/pki" >/dev/null
export KEFU_PLAINTEXT=true KEFU_JWT_PUBLIC_KEY_FILE="$work/pki/jwt-public.pem" KEFU_SIGNING_KEY="$work/pki/jwt-private.pem" \
  KEFU_SERVICE_KEY_FILE="$work/pki/service-jwt-private.pem" KEFU_SERVICE_PUBLIC_KEY_FILE="$work/pki/service-jwt-public.pem"
# start_server NAME [flags...]: a kefu-customers on the suite's database; sets
# started_port and started_pid. Its log: $out/NAME.log.
start_server() {
  local name=$1
  shift
  started_port=$(free_port)
  "$service" --listen_host=127.0.0.1 --grpc_port="$started_port" --db_port="$db_port" "$@" \
    >"$out/$name.log" 2>&1 &
  started_pid=$!
}
stop_server() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
start_server customers --metrics_port="$(free_port)" --db_pool_size="$pool"
grpc_port=$started_port
pid=$started_pid
# complaints for create_work_order: it asks this customers server for the tier.
complaints_port=$(free_port)
"$build/services/complaints/kefu-complaints" --listen_host=127.0.0.1 --grpc_port="$complaints_port" \
  --metrics_port="$(free_port)" --db_port="$db_port" --db_pool_size="$pool" \
  --customers_addr="127.0.0.1:$grpc_port" >"$out/complaints.log" 2>&1 &
more_pids+=($!)

common=(--target="127.0.0.1:$grpc_port" --db_port="$db_port" --db_pool_size="$pool"
        --duration="$duration" --warmup="$warmup" --summary="$out/summary.tsv"
        --server_api="grpc++ sync server (kefu::Server), db pool $pool")
run() {  # workload mode load [flags...]
  local w=$1 mode=$2 load=$3
  shift 3
  echo "-- $w $mode $load" >&2
  # Tasks (processes and threads) the host created during the run: a server that starts a
  # thread per call shows here. The last PID handed out, wrapping at pid_max.
  local pid_max first last start end
  pid_max=$(cat /proc/sys/kernel/pid_max)
  first=$(cat /proc/sys/kernel/ns_last_pid)
  start=$(date +%s.%N)
  "$bench" "${common[@]}" --workload="$w" --mode="$mode" "$@" --json="$out/$w-$mode-$load.json" >/dev/null
  last=$(cat /proc/sys/kernel/ns_last_pid)
  end=$(date +%s.%N)
  echo -e "$w\t$mode\t$load\t$(((last - first + pid_max) % pid_max))\t$start\t$end" >>"$out/tasks.tsv"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
# The server's own memory: resident anonymous pages (heap, stacks). VmRSS also counts the
# pages of the binary and shared libraries that happen to be resident, which come and go
# with the page cache and as more code paths run.
anon_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status"; }
server_threads() { awk '/^Threads:/ { print $2 }' "/proc/$pid/status"; }

if [ "${2:-}" = soak ]; then
  windows=${KEFU_SOAK_WINDOWS:-6}
  window=${KEFU_SOAK_WINDOW:-5m}
  run get_customer closed peak --concurrency=8
  run create_customer closed peak --concurrency=8
  quarter() { awk -F'\t' -v w="$1" '$1 == w && $2 == "closed" { r = $7 / 4 } END { printf "%d", (r > 1 ? r : 1) }' \
    "$out/summary.tsv"; }
  get_rate=$(quarter get_customer)
  create_rate=$(quarter create_customer)
  : >"$out/soak.tsv"
  : >"$out/soak-rss.tsv"
  # Once a second, the database's and the host's counters (name=value, cumulative where the
  # counter is), so that a latency spike can be matched with its cause: checkpoint flushing,
  # page reads, fsync stalls, CPU steal.
  ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
  sample_host_and_db() {
    local vars="'INNODB_CHECKPOINT_AGE','INNODB_BUFFER_POOL_PAGES_DIRTY','INNODB_BUFFER_POOL_READS',"
    vars+="'INNODB_BUFFER_POOL_WAIT_FREE','INNODB_OS_LOG_FSYNCS','INNODB_DATA_FSYNCS','INNODB_DATA_WRITTEN',"
    vars+="'THREADS_RUNNING'"
    while sleep 1; do
      local db cpu
      db=$(mariadb --no-defaults --socket="$work/mariadb/mysqld.sock" -uroot -N -B -e \
        "SELECT CONCAT(LOWER(VARIABLE_NAME), '=', VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS
         WHERE VARIABLE_NAME IN ($vars)" 2>/dev/null | paste -sd ' ') || db=""
      cpu=$(awk '/^cpu / { print "cpu_user=" $2 + $3, "cpu_system=" $4, "cpu_idle=" $5, "cpu_iowait=" $6,
                                 "cpu_steal=" $9, "cpu_busy=" $2 + $3 + $4 + $7 + $8 }' /proc/stat)
      # CPU ticks of the server, the database and the load generators, so that what the
      # host spent on anything else (cpu_busy minus these) shows.
      local bench_ticks=0 t
      for p in $(pgrep -x kefu-bench); do
        t=$(ticks "$p")
        bench_ticks=$((bench_ticks + t))
      done
      echo "time=$(date +%s) $db $cpu ticks_customers=$(ticks "$pid") ticks_mariadb=$(ticks "$(cat "$work/mariadb/mysqld.pid")") ticks_bench=$bench_ticks"
    done
  }
  sample_host_and_db >"$out/soak-host-db.txt" &
  sampler_pid=$!
  for i in $(seq 1 "$windows"); do
    # The first window starts with an unrecorded warm-up at the soak rate: the database
    # is still writing back what the peak runs left behind.
    warm=0s
    [ "$i" = 1 ] && warm=${KEFU_SOAK_WARMUP:-30s}
    common=(--target="127.0.0.1:$grpc_port" --db_port="$db_port" --db_pool_size="$pool" --duration="$window"
            --warmup="$warm" --summary="$out/soak.tsv" --concurrency="$pool" --mode=open)
    "$bench" "${common[@]}" --workload=get_customer --rate="$get_rate" --json="$out/soak-get-$i.json" >/dev/null &
    get_pid=$!
    "$bench" "${common[@]}" --workload=create_customer --rate="$create_rate" \
      --json="$out/soak-create-$i.json" >/dev/null
    wait "$get_pid"
    echo -e "$i\t$(rss_kb)\t$(server_threads)\t$(anon_kb)" >>"$out/soak-rss.tsv"
    echo "-- soak window $i/$windows done, rss $(rss_kb) kB (anonymous $(anon_kb) kB), $(server_threads) threads" >&2
  done
  kill "$sampler_pid" 2>/dev/null || true
  {
    echo "kefu soak: $(nproc) cores, GetCustomer at $get_rate/s and CreateCustomer at $create_rate/s (a quarter of"
    echo "each one's c=8 peak: half the capacity together) in open loop, $windows windows of $window; latency in"
    echo "ms; the server's resident memory (all, and anonymous: heap and stacks) and threads after each window"
    echo
    printf "%-7s %-16s %9s %6s %9s %8s %8s %8s %10s %10s %8s\n" window workload calls errors calls/s p50 p99 p99.9 \
      rss_kB anon_kB threads
    awk -F'\t' -v rssfile="$out/soak-rss.tsv" '
      BEGIN {
        while ((getline line < rssfile) > 0) {
          split(line, f, "\t"); rss[f[1]] = f[2]; thr[f[1]] = f[3]; anon[f[1]] = f[4]
        }
      }
      { w = int((NR + 1) / 2)
        printf "%-7d %-16s %9d %6d %9.1f %8.3f %8.3f %8.3f %10s %10s %8s\n", w, $1, $5, $6, $7, $8 / 1000,
          $10 / 1000, $11 / 1000, rss[w], anon[w], thr[w]
        errors += $6 - $18; refused += $18; calls += $5; p99[$1, w] = $10; last = w }
      END {
        split("get_customer create_customer", names, " ")
        print ""
        for (k = 1; k <= 2; ++k)
          if (p99[names[k], 1] > 0)
            printf "p99 drift %-16s last/first window: %.2f\n", names[k], p99[names[k], last] / p99[names[k], 1]
        printf "resident memory: %d kB after window 1, %d kB after window %d: %+.1f%%\n", rss[1], rss[last], last,
          (rss[last] - rss[1]) / rss[1] * 100
        # What a leak would grow: the anonymous part.
        growth = (anon[last] - anon[1]) / anon[1] * 100
        printf "anonymous memory: %d kB after window 1, %d kB after window %d: %+.1f%%\n", anon[1], anon[last], last,
          growth
        # A stall of the host longer than --max_calls_in_flight calls (128: some 40 ms at
        # this rate) is shed rather than queued; a refusal rate that matters is not.
        printf "errors: %d; refused (server full): %d of %d calls\n", errors, refused, calls
        if (errors > 0 || refused > calls / 1000 || growth > 10) { print "SOAK FAILED"; exit 1 }
        print "soak passed"
      }' "$out/soak.tsv"
  } | tee "$out/soak.txt"
  exit "${PIPESTATUS[0]}"
fi

# The server's memory before its first call (once it answers health checks).
"$bench" "${common[@]}" --workload=health --duration=1s --warmup=0s --summary=/dev/null >/dev/null
idle_rss=$(rss_kb)
idle_anon=$(anon_kb)

# Each work order writes a customer-log message to complaints' outbox, which its relay
# delivers to customers in the background. After a CreateWorkOrder run the suite waits (up
# to 10 minutes) until the relay has delivered that run's messages, so that they do not
# load the runs after it, and records how the relay kept up: the messages, the seconds
# over which they were written, how many were still queued when the last one was written,
# and the seconds it took to deliver those.
complaints_sql() {
  mariadb --no-defaults --socket="$work/mariadb/mysqld.sock" -uroot -N -B kefu_complaints -e "$1"
}
: >"$out/relay.tsv"
relay_drain() {  # LABEL FIRST_ID: the messages after FIRST_ID
  local label=$1 first=$2 i
  for i in $(seq 1 600); do
    [ "$(complaints_sql "SELECT COUNT(*) FROM outbox WHERE id > $first AND delivered_time IS NULL")" = 0 ] && break
    sleep 1
  done
  complaints_sql "SELECT '$label', COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(o.create_time), e.last) / 1e6,
      SUM(o.delivered_time > e.last), TIMESTAMPDIFF(MICROSECOND, e.last, MAX(o.delivered_time)) / 1e6,
      SUM(o.delivered_time IS NULL)
    FROM outbox o JOIN (SELECT MAX(create_time) AS last FROM outbox WHERE id > $first) e
    WHERE o.id > $first GROUP BY e.last" >>"$out/relay.tsv"
}

for c in $levels; do
  # get_customer before db_point_select: its setup creates the rows the select reads.
  for w in health get_customer db_point_select create_customer db_insert disk_fsync; do
    run "$w" closed "c$c" --concurrency="$c" --fsync_dir="$work/mariadb/data"
  done
  outbox_before=$(complaints_sql "SELECT COALESCE(MAX(id), 0) FROM outbox")
  run create_work_order closed "c$c" --concurrency="$c" --target="127.0.0.1:$complaints_port" \
    --customers_target="127.0.0.1:$grpc_port"
  relay_drain "c$c" "$outbox_before"
done
# Open loop: each call at half its own peak (the last closed-loop level, c=8 by default),
# right after the host's floors at the same rate: the sender alone, sleeping until each
# due time and doing nothing (how late the host wakes a thread), and the health check
# through the same server (that and the RPC stack). A call's tail is compared with theirs.
half_peak() {
  awk -F'\t' -v w="$1" '$1 == w && $2 == "closed" { r = $7 / 2 } END { printf "%d", (r > 1 ? r : 1) }' \
    "$out/summary.tsv"
}
for w in get_customer create_customer create_work_order; do
  rate=$(half_peak "$w")
  run wakeup open "r$rate-$w" --rate="$rate"
  run health open "r$rate-$w" --rate="$rate" --concurrency="$pool"
  if [ "$w" = create_work_order ]; then
    outbox_before=$(complaints_sql "SELECT COALESCE(MAX(id), 0) FROM outbox")
    run "$w" open "r$rate" --rate="$rate" --concurrency="$pool" --target="127.0.0.1:$complaints_port" \
      --customers_target="127.0.0.1:$grpc_port"
    relay_drain "open" "$outbox_before"
  else
    run "$w" open "r$rate" --rate="$rate" --concurrency="$pool"
  fi
done

# Metrics: the same calls on two servers started now, one with metrics and one with
# --metrics_port=-1 (no /metrics, nothing counted per call), four rounds of 5 s each in
# the order on-off, off-on, on-off, off-on, so that neither the history of the server
# above nor drift of the machine falls on one side.
start_server customers-metrics --metrics_port=0 --db_pool_size="$pool"
metrics_port=$started_port
metrics_pid=$started_pid
more_pids+=("$started_pid")
start_server customers-no-metrics --metrics_port=-1 --db_pool_size="$pool"
no_metrics_port=$started_port
no_metrics_pid=$started_pid
more_pids+=("$started_pid")
: >"$out/metrics-on.tsv"
: >"$out/metrics-off.tsv"
for round in 1 2 3 4; do
  sides="on off"
  [ $((round % 2)) = 0 ] && sides="off on"
  for w in get_customer create_customer; do
    for side in $sides; do
      port=$metrics_port
      [ "$side" = off ] && port=$no_metrics_port
      run "$w" closed "metrics-$side-$round" --concurrency=8 --duration=5s --target="127.0.0.1:$port" \
        --summary="$out/metrics-$side.tsv"
    done
  done
done
stop_server "$metrics_pid"
stop_server "$no_metrics_pid"

# Pool sizes: a server per size, 32 calls in flight (as many as the largest pool tried).
pool_sizes="2 4 8 16 32"
: >"$out/pool-sweep.tsv"
for size in $pool_sizes; do
  start_server "customers-pool-$size" --metrics_port=0 --db_pool_size="$size"
  more_pids+=("$started_pid")
  for w in get_customer create_customer; do
    run "$w" closed "pool-$size" --concurrency=32 --duration=5s --db_pool_size="$size" \
      --target="127.0.0.1:$started_port" --summary="$out/pool-sweep.tsv"
  done
  stop_server "$started_pid"
done

# Memory: the first server after a million calls (GetCustomer, 8 in flight), against its
# size before its first call. The run lasts long enough for a million at the peak (the
# last closed-loop level, c=8 by default); 10 minutes at most.
peak=$(awk -F'\t' '$1 == "get_customer" && $2 == "closed" { r = $7 } END { printf "%d", r }' "$out/summary.tsv")
million_s=$((1250000 / (peak > 0 ? peak : 1) + 1))
[ "$million_s" -le 600 ] || million_s=600
run get_customer closed million --concurrency=8 --duration="${million_s}s" --summary="$out/million.tsv"
million_calls=$(awk -F'\t' '{ print $5 }' "$out/million.tsv")
million_rss=$(rss_kb)
million_anon=$(anon_kb)

# Overload: GetCustomer offered at two and at ten times its c=8 peak. The server runs at
# most --max_calls_in_flight calls at once and refuses the next ones in the auth step,
# before they take a thread (RESOURCE_EXHAUSTED); what it answers should stay near its
# peak, and the refusals should be quick. Its own summary file: the refusals are the
# expected outcome here, not errors of the suite. Threads and resident size are sampled
# every 0.1 s.
threads() { awk '/^Threads:/ { print $2 }' "/proc/$pid/status"; }
threads_idle=$(threads)
: >"$out/overload.tsv"
: >"$out/overload-server.tsv"
for factor in 2 10; do
  (while sleep 0.1; do
    awk '/^Threads:/ { t = $2 } /^VmRSS:/ { r = $2 } END { print t "\t" r }' "/proc/$pid/status"
  done) >"$out/overload-$factor-server.txt" 2>/dev/null &
  sampler=$!
  run get_customer open "overload-$factor" --rate="$((peak * factor))" --concurrency="$pool" --max_in_flight=2000 \
    --client_threads=2 --summary="$out/overload.tsv"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  awk -F'\t' -v f="$factor" '$1 > t { t = $1 } $2 > r { r = $2 } END { print f "\t" t "\t" r }' \
    "$out/overload-$factor-server.txt" >>"$out/overload-server.tsv"
done

cores=$(nproc)
{
  echo "kefu-bench suite: $cores cores, kefu-customers (grpc++ sync server) db pool $pool," \
    "$duration per run after $warmup warm-up, loopback"
  echo "latency in ms; closed: c = calls in flight (db: connections); open: fixed arrival rate, timed from the"
  echo "scheduled send; ratio = calls/s of the call over its floor"
  echo
  awk -F'\t' -v tasksfile="$out/tasks.tsv" '
    BEGIN {
      printf "%-17s %-6s %-8s %8s %6s %9s %8s %8s %8s %8s %8s\n", "workload", "mode", "load", "calls", "errors",
        "calls/s", "p50", "p90", "p99", "p99.9", "max"
    }
    {
      load = $2 == "open" ? sprintf("%d/s", $4) : sprintf("c=%d", $3)
      printf "%-17s %-6s %-8s %8d %6d %9.1f %8.3f %8.3f %8.3f %8.3f %8.3f\n", $1, $2, load, $5, $6, $7,
        $8 / 1000, $9 / 1000, $10 / 1000, $11 / 1000, $12 / 1000
      if ($2 == "open") {
        # Lines come in threes: the host wake-up probe, the health check, then the call.
        if ($1 == "wakeup") { wake_p50 = $8; wake_p99 = $10; wake_p999 = $11 }
        else if ($1 == "health") { health_p50 = $8; health_p99 = $10 }
        else tail[++tails] = sprintf("%-17s %8d %7.3f %7.3f %6.1f %7.3f %7.3f %7.3f %6.1f %7.3f %7.3f %7.3f", $1, $4,
          $8 / 1000, $10 / 1000, ($8 > 0 ? $10 / $8 : 0), $11 / 1000, health_p50 / 1000, health_p99 / 1000,
          (health_p50 > 0 ? health_p99 / health_p50 : 0), wake_p50 / 1000, wake_p99 / 1000, wake_p999 / 1000)
      }
      if ($2 != "closed") next
      tput[$1, $3] = $7; p50[$1, $3] = $8; prepared[$1, $3] = $13; executed[$1, $3] = $14
      if (!(($3) in seen)) { seen[$3] = 1; order[++n] = $3 }
    }
    # One line of the ratio table: calls/s and p50 of a call against those of its floor.
    function ratio_row(label, c, calls, floor, p50_call, p50_floor) {
      printf "%-44s c=%-3d %9.1f %9.1f %7.2f %9.3f %9.3f %7.2f\n", label, c, calls, floor, calls / floor,
        p50_call / 1000, p50_floor / 1000, (p50_floor > 0 ? p50_call / p50_floor : 0)
    }
    END {
      print ""
      printf "%-44s %-5s %9s %9s %7s %9s %9s %7s\n", "ratio", "load", "calls/s", "floor/s", "ratio",
        "p50 ms", "floor ms", "ratio"
      for (k = 1; k <= n; ++k) {
        c = order[k]
        h = tput["health", c]; s = tput["db_point_select", c]; i = tput["db_insert", c]
        if (h > 0 && s > 0 && tput["get_customer", c] > 0)
          ratio_row("GetCustomer / (health + point select)", c, tput["get_customer", c], 1 / (1 / h + 1 / s),
                    p50["get_customer", c], p50["health", c] + p50["db_point_select", c])
        split("create_customer CreateCustomer create_work_order CreateWorkOrder", writes, " ")
        for (j = 1; j <= 4; j += 2)
          if (i > 0 && tput[writes[j], c] > 0)
            ratio_row(writes[j + 1] " / durable insert", c, tput[writes[j], c], i, p50[writes[j], c], p50["db_insert", c])
        # A write is an RPC and at least one durable insert, on the same two cores: by the
        # floor arithmetic above, no write call can pass the ratio of this line to the insert alone.
        if (h > 0 && i > 0) {
          ratio_row("(health + durable insert): ceiling of writes", c, 1 / (1 / h + 1 / i), i,
                    p50["health", c] + p50["db_insert", c], p50["db_insert", c])
          for (j = 1; j <= 4; j += 2)
            if (tput[writes[j], c] > 0)
              ratio_row(writes[j + 1] " / (health + durable insert)", c, tput[writes[j], c], 1 / (1 / h + 1 / i),
                        p50[writes[j], c], p50["health", c] + p50["db_insert", c])
        }
        d = tput["disk_fsync", c]
        if (d > 0 && i > 0)
          ratio_row("durable insert / fdatasync (the disk)", c, i, d, p50["db_insert", c], p50["disk_fsync", c])
      }
      if (tails > 0) {
        print ""
        print "open loop, each call at half its peak; latency from the due time (ms): the call, then the health check" \
              " and the host wake-up lateness at the same rate"
        printf "%-17s %8s %7s %7s %6s %7s %7s %7s %6s %7s %7s %7s\n", "call", "rate/s", "p50", "p99", "p99/50",
          "p99.9", "health", "p99", "p99/50", "wakeup", "p99", "p99.9"
        for (k = 1; k <= tails; ++k) print tail[k]
      }
      # Group commit: concurrent transactions share the log flush, so 8 connections commit
      # more than 1 does; by how much depends on whether the disk or the CPU is the limit.
      if (tput["db_insert", 1] > 0 && tput["db_insert", 8] > 0)
        printf "group commit: durable inserts/s at 8 connections / at 1: %.2f" \
               " (fdatasyncs/s, 8 files / 1: %.2f)\n", tput["db_insert", 8] / tput["db_insert", 1],
          (tput["disk_fsync", 1] > 0 ? tput["disk_fsync", 8] / tput["disk_fsync", 1] : 0)
      # Statements are prepared once per pooled connection: a run of thousands of calls
      # prepares a handful (the first use on each connection), not one per statement.
      # The server keeps its threads between calls: the host creates next to no tasks
      # (threads or processes) per second while it runs.
      print ""
      printf "%-44s %-5s %9s %9s %13s\n", "statements prepared and executed, host tasks", "load", "prepared",
        "executed", "tasks made/s"
      while ((getline line < tasksfile) > 0) {
        split(line, tf, "\t")
        if (tf[6] > tf[5]) tasks_per_s[tf[1], tf[3]] = tf[4] / (tf[6] - tf[5])
      }
      for (k = 1; k <= n; ++k) {
        c = order[k]
        split("get_customer create_customer", names, " ")
        for (j = 1; j <= 2; ++j)
          if (executed[names[j], c] != "" && executed[names[j], c] >= 0)
            printf "%-44s c=%-3d %9d %9d %13.1f\n", names[j], c, prepared[names[j], c], executed[names[j], c],
              tasks_per_s[names[j], "c" c]
      }
    }' "$out/summary.tsv"
  awk -F'\t' '
    NR == 1 { print ""; print "customer-log relay (complaints to customers, through the outbox) after each CreateWorkOrder run:" }
    { printf "  %-5s %7d messages written over %5.1f s (%7.1f/s); %7d queued at the last, delivered in %5.1f s" \
             " (%7.1f/s)%s\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0), $4, $5, ($5 > 0 ? $4 / $5 : 0),
             ($6 > 0 ? sprintf("; %d NOT DELIVERED", $6) : "") }' "$out/relay.tsv"
  echo
  awk -F'\t' -v peak="$peak" -v idle="$threads_idle" -v after_rss="$(rss_kb)" '
    FNR == NR { most_threads[FNR] = $2; most_rss[FNR] = $3; factor[FNR] = $1; next }
    {
      ok_rate = $5 > 0 ? $7 * $15 / $5 : 0; refused_rate = $5 > 0 ? $7 * $18 / $5 : 0
      printf "overload: GetCustomer offered at %d/s (%d x the c=8 peak of %d/s), up to 2,000 calls outstanding\n",
        $4, factor[FNR], peak
      printf "  answered OK   %8.1f/s = %.2f of the peak; from send p50 %.3f ms, p99 %.3f ms\n", ok_rate,
        (peak > 0 ? ok_rate / peak : 0), $16 / 1000, $17 / 1000
      printf "  refused       %8.1f/s (RESOURCE_EXHAUSTED or UNAVAILABLE); from send p50 %.3f ms, p99 %.3f ms\n",
        refused_rate, $19 / 1000, $20 / 1000
      printf "  other errors  %8d\n", $6 - $18
      printf "  server: %d threads idle, at most %d during the run; resident %.1f MB at most (%.1f MB after)\n",
        idle, most_threads[FNR], most_rss[FNR] / 1024, after_rss / 1024
    }' "$out/overload-server.tsv" "$out/overload.tsv"
  echo
  # Metrics on / off: medians of the four rounds of each side, and the range of the
  # ratios within a round (the two runs of a round follow each other).
  awk -F'\t' '
    function median(a, n,   i, j, t) {
      for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    FNR == NR { on[$1, ++n_on[$1]] = $7; if (!($1 in named)) { named[$1] = 1; order[++m] = $1 }; next }
    { off[$1, ++n_off[$1]] = $7 }
    END {
      print "metrics on / off (two servers started for it, with and without, c=8, medians of 4 rounds of 5 s):"
      for (k = 1; k <= m; ++k) {
        w = order[k]; lo = 0; hi = 0
        delete a; for (i = 1; i <= n_on[w]; ++i) a[i] = on[w, i]; mon = median(a, n_on[w])
        delete a; for (i = 1; i <= n_off[w]; ++i) a[i] = off[w, i]; moff = median(a, n_off[w])
        for (i = 1; i <= n_on[w] && i <= n_off[w]; ++i) if (off[w, i] > 0) {
          r = on[w, i] / off[w, i]
          if (lo == 0 || r < lo) lo = r
          if (r > hi) hi = r
        }
        printf "  %-16s with %8.1f/s, without %8.1f/s: %.3f (rounds %.3f-%.3f)\n", w, mon, moff,
          (moff > 0 ? mon / moff : 0), lo, hi
      }
    }' "$out/metrics-on.tsv" "$out/metrics-off.tsv"
  echo
  # Pool sizes: lines come per size as GetCustomer, then CreateCustomer.
  awk -F'\t' -v sizes="$pool_sizes" '
    BEGIN { n = split(sizes, size, " ")
            print "pool size sweep (one server per size, 32 calls in flight, 5 s each; calls/s and p50 ms):"
            printf "  %-5s %14s %9s %16s %9s\n", "pool", "GetCustomer/s", "p50", "CreateCustomer/s", "p50" }
    { s = size[int((NR - 1) / 2) + 1]; t[$1, s] = $7; p[$1, s] = $8 / 1000 }
    END {
      for (k = 1; k <= n; ++k) {
        s = size[k]
        printf "  %-5s %14.1f %9.3f %16.1f %9.3f\n", s, t["get_customer", s], p["get_customer", s],
          t["create_customer", s], p["create_customer", s]
        if (t["get_customer", s] > best_get) { best_get = t["get_customer", s]; at_get = s }
        if (t["create_customer", s] > best_create) { best_create = t["create_customer", s]; at_create = s }
      }
      printf "  most calls/s: GetCustomer at pool %s, CreateCustomer at pool %s\n", at_get, at_create
    }' "$out/pool-sweep.tsv"
  echo
  awk -v calls="$million_calls" -v ir="$idle_rss" -v ia="$idle_anon" -v mr="$million_rss" -v ma="$million_anon" \
    'BEGIN { printf "memory of the server: idle %d kB resident (%d kB anonymous); after %d more GetCustomer calls" \
                    " %d kB (%d kB anonymous): %+.1f%% (%+.1f%%)\n", ir, ia, calls, mr, ma,
               (mr - ir) / ir * 100, (ma - ia) / ia * 100 }'
  errors=$(cat "$out/summary.tsv" "$out/metrics-on.tsv" "$out/metrics-off.tsv" "$out/pool-sweep.tsv" "$out/million.tsv" |
    awk -F'\t' '{ n += $6 } END { print n + 0 }')
  echo
  echo "errors in all runs: $errors (details in the JSON files)"
} | tee "$out/table.txt"
echo "results: $out"
