#!/usr/bin/env bash
# bench_smoke (CTest): every kefu-bench workload for a second or two at concurrency 2,
# plus open-loop runs, against the real kefu-customers (and kefu-complaints for
# create_work_order) on throw-away schemas of the CTest MariaDB (fixture "mariadb", $KEFU_TEST_DB_PORT). kefu-bench --check fails a run
# with no calls, any error or any wrong response; no speed is asserted, so a loaded
# machine cannot make it flaky.
#
# usage: tools/bench/smoke.sh <build_dir>
set -euo pipefail

build=$(cd "${1:?usage: smoke.sh <build_dir>}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
db_port=${KEFU_TEST_DB_PORT:?KEFU_TEST_DB_PORT is not set: run this test through ctest (make test)}
service="$build/services/customers/kefu-customers"
complaints="$build/services/complaints/kefu-complaints"
bench="$build/tools/bench/kefu-bench"
for f in "$service" "$complaints" "$bench"; do
  [ -x "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done

work=$(mktemp -d /tmp/kefu-bench-smoke-XXXXXX)
schema="kefu_bsmoke_$(printf '%06x' $((RANDOM * 32768 + RANDOM)))$$"
user=${schema:0:32}
wo_schema="${schema}w"
wo_user=${wo_schema:0:31}w
password="test-pw"
pid=""
wo_pid=""

admin_sql() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$db_port" -ukefu_admin -e "$1"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in $pid $wo_pid; do
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  if [ "$rc" != 0 ]; then
    for log in customers complaints; do
      [ -f "$work/$log.log" ] || continue
      echo "kefu-$log log tail:" >&2
      tail -20 "$work/$log.log" >&2
    done
  fi
  admin_sql "DROP DATABASE IF EXISTS \`$schema\`; DROP USER IF EXISTS '$user'@'127.0.0.1';
             DROP DATABASE IF EXISTS \`$wo_schema\`; DROP USER IF EXISTS '$wo_user'@'127.0.0.1';" || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

admin_sql "CREATE DATABASE \`$schema\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
           CREATE USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
           GRANT ALL ON \`$schema\`.* TO '$user'@'127.0.0.1';
           CREATE DATABASE \`$wo_schema\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
           CREATE USER '$wo_user'@'127.0.0.1' IDENTIFIED BY '$password';
           GRANT ALL ON \`$wo_schema\`.* TO '$wo_user'@'127.0.0.1';"

# Plaintext on loopback, tokens signed with a throw-away key pair.
"$root/tools/dev/gen-pki.sh" "$work/pki" >/dev/null
export KEFU_PLAINTEXT=true KEFU_JWT_PUBLIC_KEY_FILE="$work/pki/jwt-public.pem" KEFU_SIGNING_KEY="$work/pki/jwt-private.pem" \
  KEFU_SERVICE_KEY_FILE="$work/pki/service-jwt-private.pem" KEFU_SERVICE_PUBLIC_KEY_FILE="$work/pki/service-jwt-public.pem"
# shellcheck source=tools/dev/free-port.sh
source "$root/tools/dev/free-port.sh"
port=$(free_port)
KEFU_DB_PASSWORD="$password" "$service" --listen_host=127.0.0.1 --grpc_port="$port" --metrics_port=-1 \
  --db_port="$db_port" --db_name="$schema" --db_user="$user" >"$work/customers.log" 2>&1 &
pid=$!
wo_port=$(free_port)
KEFU_DB_PASSWORD="$password" "$complaints" --listen_host=127.0.0.1 --grpc_port="$wo_port" --metrics_port=-1 \
  --db_port="$db_port" --db_name="$wo_schema" --db_user="$wo_user" --customers_addr="127.0.0.1:$port" \
  >"$work/complaints.log" 2>&1 &
wo_pid=$!

export KEFU_DB_PASSWORD="$password"
common=(--target="127.0.0.1:$port" --db_port="$db_port" --db_user="$user" --db_name="$schema"
        --warmup=200ms --duration=1500ms --check --summary="$work/summary.tsv")
# get_customer first: its setup creates the rows db_point_select reads.
for w in health get_customer create_customer db_point_select db_insert disk_fsync; do
  echo "== $w closed, concurrency 2"
  "$bench" "${common[@]}" --workload="$w" --mode=closed --concurrency=2 --setup_customers=20 \
    --fsync_dir="$work" --json="$work/$w.json"
  grep -q '"error_count": 0,' "$work/$w.json"
done
echo "== create_work_order closed, concurrency 2"
"$bench" "${common[@]}" --workload=create_work_order --target="127.0.0.1:$wo_port" \
  --customers_target="127.0.0.1:$port" --mode=closed --concurrency=2 --setup_customers=20 \
  --json="$work/create_work_order.json"
grep -q '"error_count": 0,' "$work/create_work_order.json"
for w in get_customer db_point_select wakeup; do
  echo "== $w open, 100/s"
  "$bench" "${common[@]}" --workload="$w" --mode=open --rate=100 --concurrency=2 --setup_customers=20
done
# The host's wake-up probe does nothing but sleep: closed loop, it would only spin.
rc=0
"$bench" "${common[@]}" --workload=wakeup --mode=closed 2>/dev/null || rc=$?
[ "$rc" = 2 ] || { echo "wakeup in closed loop: exit $rc, expected 2" >&2; exit 1; }
[ "$(wc -l <"$work/summary.tsv")" = 10 ] || { echo "expected 10 summary lines" >&2; exit 1; }
# The fsync probe cleaned up after itself.
if compgen -G "$work/kefu-bench-fsync-*" >/dev/null; then echo "fsync probe files left behind" >&2; exit 1; fi
# Every run but the host's probes (disk, wake-up) read the database's statement counters,
# and the calls of every run but those and the health check executed statements.
awk -F'\t' 'NF != 20 || ($1 != "disk_fsync" && $1 != "wakeup" && ($13 < 0 || ($1 != "health" && $14 <= 0))) {
               bad = 1; print "no statement counters: " $0 }
             END { exit bad }' "$work/summary.tsv" >&2

for name in complaints customers; do
  if [ "$name" = complaints ]; then p=$wo_pid; else p=$pid; fi
  kill -TERM "$p"
  rc=0
  wait "$p" || rc=$?
  [ "$rc" = 0 ] || { echo "kefu-$name exited with $rc" >&2; exit 1; }
done
pid=""
wo_pid=""
echo "bench_smoke: every workload ran with no errors"
