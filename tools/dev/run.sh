#!/usr/bin/env bash
# `make run`: the whole system on this machine. Starts an ephemeral MariaDB under
# .run/ (its own port), one schema and user per service, every service, loads demo
# data, prints the endpoints, and stops everything on Ctrl-C.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
run_dir="$root/.run"
db_port=${KEFU_RUN_DB_PORT:-13306}
db_password=${KEFU_DEV_DB_PASSWORD:-kefu-dev}
mkdir -p "$run_dir/logs"

# TLS and tokens by default (KEFU_RUN_PLAINTEXT=1 for loopback plaintext): a local CA,
# one service certificate, and the key pair that signs development tokens.
pki="$run_dir/pki"
"$root/tools/dev/gen-pki.sh" "$pki" >/dev/null
export KEFU_JWT_PUBLIC_KEY_FILE="$pki/jwt-public.pem"
if [ "${KEFU_RUN_PLAINTEXT:-0}" = 1 ]; then
  export KEFU_PLAINTEXT=true KEFU_LISTEN_HOST=127.0.0.1
else
  export KEFU_TLS_CERT_FILE="$pki/service.pem" KEFU_TLS_KEY_FILE="$pki/service-key.pem" KEFU_TLS_CA_FILE="$pki/ca.pem"
fi
# Services sign their own tokens with their own pair; kefuctl and the demo loader play
# the identity provider and mint staff tokens with the other.
export KEFU_SERVICE_KEY_FILE="$pki/service-jwt-private.pem" KEFU_SERVICE_PUBLIC_KEY_FILE="$pki/service-jwt-public.pem"
export KEFU_SIGNING_KEY="$pki/jwt-private.pem"

# name grpc_port metrics_port [extra flags]: the documented defaults (README
# "Configuration"), started in this order.
services=(
  "customers 50051 9101 --complaints_addr=127.0.0.1:50054 --contracts_addr=127.0.0.1:50053 --sales_addr=127.0.0.1:50052 --performance_addr=127.0.0.1:50055"
  "contracts 50053 9103 --customers_addr=127.0.0.1:50051 --sweep_interval_ms=10000"
  "complaints 50054 9104 --customers_addr=127.0.0.1:50051 --contracts_addr=127.0.0.1:50053 --performance_addr=127.0.0.1:50055"
  "sales 50052 9102 --customers_addr=127.0.0.1:50051 --contracts_addr=127.0.0.1:50053"
  "performance 50055 9105 --customers_addr=127.0.0.1:50051 --contracts_addr=127.0.0.1:50053 --complaints_addr=127.0.0.1:50054"
)

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/tools/dev/mariadb.sh" stop "$run_dir/mariadb" || true
  echo "stopped. Data stays in .run/mariadb until 'make clean'."
}
trap cleanup INT TERM EXIT

"$root/tools/dev/mariadb.sh" start "$run_dir/mariadb" "$db_port"
names=()
for s in "${services[@]}"; do names+=("${s%% *}"); done
KEFU_DEV_DB_PASSWORD="$db_password" "$root/tools/dev/mariadb.sh" provision "$run_dir/mariadb" "${names[@]}"

kefuctl="$root/$build/tools/kefuctl/kefuctl"
for s in "${services[@]}"; do
  read -r name grpc_port metrics_port extra <<<"$s"
  # shellcheck disable=SC2086  # extra holds whole flags
  KEFU_DB_PASSWORD="$db_password" "$root/$build/services/$name/kefu-$name" \
    --grpc_port="$grpc_port" --metrics_port="$metrics_port" --db_port="$db_port" $extra \
    >"$run_dir/logs/$name.log" 2>&1 &
  pids+=($!)
done

for s in "${services[@]}"; do
  read -r name grpc_port metrics_port _ <<<"$s"
  for i in $(seq 1 60); do
    if "$kefuctl" --addr "127.0.0.1:$grpc_port" health >/dev/null 2>&1; then break; fi
    if [ "$i" = 60 ]; then echo "$name did not become healthy; see .run/logs/$name.log"; exit 1; fi
    sleep 0.5
  done
done

# Prometheus (Debian's package, when installed): scrapes every service and
# evaluates deploy/prometheus/rules; data in .run/prometheus.
prom_url=""
if command -v prometheus >/dev/null 2>&1; then
  prom_port=${KEFU_RUN_PROMETHEUS_PORT:-9090}
  targets=()
  for s in "${services[@]}"; do read -r name _ metrics_port _ <<<"$s"; targets+=("$name=127.0.0.1:$metrics_port"); done
  "$root/deploy/prometheus/local-config.sh" "$run_dir/prometheus.yml" 5s "${targets[@]}"
  prometheus --config.file="$run_dir/prometheus.yml" --storage.tsdb.path="$run_dir/prometheus" \
    --web.listen-address="127.0.0.1:$prom_port" >"$run_dir/logs/prometheus.log" 2>&1 &
  pids+=($!)
  prom_url="http://127.0.0.1:$prom_port"
fi

echo "loading demo data..."
"$root/$build/tools/demo/kefu-demo-load" --addr 127.0.0.1:50051
KEFU_SALES_ADDR=127.0.0.1:50052 KEFU_CONTRACTS_ADDR=127.0.0.1:50053 KEFU_COMPLAINTS_ADDR=127.0.0.1:50054 \
  KEFU_PERFORMANCE_ADDR=127.0.0.1:50055 \
  "$root/tools/dev/demo-services.sh" "$kefuctl"

cat <<MSG

kefu is running (TLS: ${KEFU_TLS_CA_FILE:+on, CA $KEFU_TLS_CA_FILE}${KEFU_PLAINTEXT:+off, loopback plaintext}).
  MariaDB     127.0.0.1:$db_port  (schemas kefu_<service>, users kefu_<service>, password $db_password)
MSG
for s in "${services[@]}"; do
  read -r name grpc_port metrics_port _ <<<"$s"
  printf '  %-11s grpc 127.0.0.1:%s   metrics http://127.0.0.1:%s/metrics   log .run/logs/%s.log\n' \
    "$name" "$grpc_port" "$metrics_port" "$name"
done
[ -z "$prom_url" ] || printf '  %-11s %s  (alerts %s/alerts, targets %s/targets)\n' Prometheus "$prom_url" "$prom_url" "$prom_url"
cat <<MSG

Every call needs a token. In another terminal, set up kefuctl for this system:
  export KEFU_SIGNING_KEY=$pki/jwt-private.pem${KEFU_TLS_CA_FILE:+ KEFU_TLS_CA_FILE=$KEFU_TLS_CA_FILE}${KEFU_PLAINTEXT:+ KEFU_PLAINTEXT=true}
kefuctl then mints a one-hour token per call for --actor (default E1001) and --roles
(default senior_manager), e.g. --actor E2001 --roles agent --department D-EAST.
Or mint one token for any gRPC client (grpcurl, examples/python):
  export KEFU_TOKEN=\$($build/tools/kefuctl/kefuctl token mint --actor E2001 --roles agent --department D-EAST)
  $build/tools/kefuctl/kefuctl --signing_key= customers get 1      # uses \$KEFU_TOKEN

Try:
  $build/tools/kefuctl/kefuctl customers list --tier gold
  $build/tools/kefuctl/kefuctl customers get 1
  $build/tools/kefuctl/kefuctl customers log list 1
  $build/tools/kefuctl/kefuctl customers 360 1
  $build/tools/kefuctl/kefuctl --json customers get 1
  $build/tools/kefuctl/kefuctl health
  $build/tools/kefuctl/kefuctl sales create --customer 5 --name 华东客服平台升级 --owner E1002 \
      --goal 替换旧系统 --contact 王经理 --amount 880000.00 --signing 2027-03-31
  $build/tools/kefuctl/kefuctl sales pipeline --by stage
  $build/tools/kefuctl/kefuctl contracts create --customer 5 --name 2027维保合同 --type service-contract \
      --amount 120000 --effective 2026-11-01 --expiry 2027-10-31
  $build/tools/kefuctl/kefuctl --roles department_manager contracts approve 1 --opinion 同意
  $build/tools/kefuctl/kefuctl contracts entitlement --customer 5
  $build/tools/kefuctl/kefuctl performance staff-list --department D-EAST
  $build/tools/kefuctl/kefuctl performance scorecard --person E1001 --from $(date +%Y-%m-01) --to $(date +%F)
  $build/tools/kefuctl/kefuctl performance results 1
  $build/tools/kefuctl/kefuctl performance chart --measure satisfaction --weeks 8
(each group has its own default address; see --help)

Ctrl-C stops everything.
MSG
wait "${pids[@]}"
