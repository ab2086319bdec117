#!/usr/bin/env bash
# The dashboards and alerts against the real thing: a private MariaDB provisioned by
# the same init script as the Kubernetes MySQL (k8s/base/mysql/init), the service
# binaries wired as `make run` wires them (TLS and bearer tokens with a PKI of
# tools/dev/gen-pki.sh, as k8s/gen-secrets.sh makes for the cluster), a real
# Prometheus (Debian's package) scraping them with deploy/prometheus/local-config.sh,
# a short workload through kefu-demo-load, tools/dev/demo-services.sh and kefuctl
# (staff tokens minted with the PKI's staff key, as the identity provider would, and a
# few refused calls), then live_check.py
# asks Prometheus every dashboard query and for every metric the alert rules use.
#   live_test.sh <repo> <build dir> <work dir>
# Everything listens on 127.0.0.1, on ports of its own (not those of `make run` or
# of the CTest MariaDB): MariaDB 13327, gRPC 2506x, metrics 2516x, Prometheus 25190.
# KEFU_DEPLOY_SERVICES narrows the services (default: all five) while one is not
# built yet; queries about the others are then skipped and listed.
set -euo pipefail
repo=$(cd "${1:?usage: live_test.sh <repo> <build> <work>}" && pwd)
build=$(cd "${2:?build dir required}" && pwd)
work=${3:?work dir required}
here=$(cd "$(dirname "$0")" && pwd)
python=${KEFU_DEPLOY_PYTHON:-python3}
services=(${KEFU_DEPLOY_SERVICES:-customers sales contracts complaints performance})
db_port=13327
prom_port=25190
declare -A grpc=([customers]=25061 [sales]=25062 [contracts]=25063 [complaints]=25064 [performance]=25065)
declare -A metrics=([customers]=25161 [sales]=25162 [contracts]=25163 [complaints]=25164 [performance]=25165)
declare -A calls=([customers]="complaints contracts sales" [sales]="customers contracts" [contracts]="customers"
                  [complaints]="customers contracts" [performance]="customers contracts complaints")
kefuctl="$build/tools/kefuctl/kefuctl"
started=$(date +%s)

has() { local x; for x in "${services[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
for s in "${services[@]}"; do
  [ -n "${grpc[$s]:-}" ] || { echo "unknown service $s in KEFU_DEPLOY_SERVICES" >&2; exit 2; }
  [ -x "$build/services/$s/kefu-$s" ] || { echo "FAIL no binary $build/services/$s/kefu-$s" >&2; exit 1; }
done
for tool in "$kefuctl" "$build/tools/demo/kefu-demo-load"; do
  [ -x "$tool" ] || { echo "FAIL no $tool" >&2; exit 1; }
done
# The binaries must know the services' own token key (KEFU_SERVICE_PUBLIC_KEY_FILE, as
# k8s/ sets it); an older build would ignore the variable and refuse every peer call.
for s in "${services[@]}"; do
  help=$("$build/services/$s/kefu-$s" --helpfull 2>&1 || true)   # --helpfull exits 1
  grep -q -- '--service_public_key_file' <<<"$help" ||
    { echo "FAIL kefu-$s has no --service_public_key_file (KEFU_SERVICE_PUBLIC_KEY_FILE): rebuild it" >&2; exit 1; }
done
command -v prometheus >/dev/null || { echo "FAIL prometheus not installed (tools/dev/install-deps.sh)" >&2; exit 1; }
for port in $db_port $prom_port "${grpc[@]}" "${metrics[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "FAIL port $port on 127.0.0.1 is taken; is another live_test running?" >&2; exit 1
  fi
done

rm -rf "$work"
mkdir -p "$work/logs" "$work/passwords"
work=$(cd "$work" && pwd)
# TLS and tokens as in the cluster: the services present service.pem (it names
# 127.0.0.1), verify staff tokens with jwt-public.pem, sign their own calls with
# service-jwt-private.pem and verify their peers' with service-jwt-public.pem (the
# token keys through the KEFU_* variables of the cluster's ConfigMaps); kefuctl and
# kefu-demo-load play the identity provider and sign staff tokens with
# jwt-private.pem, which no service gets; the clients verify the services against ca.pem.
pki="$work/pki"
"$repo/tools/dev/gen-pki.sh" "$pki" >/dev/null
if [ ! -s "$pki/service-jwt-private.pem" ]; then   # an older gen-pki.sh makes no service pair
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/service-jwt-private.pem" 2>/dev/null
  openssl pkey -in "$pki/service-jwt-private.pem" -pubout -out "$pki/service-jwt-public.pem" 2>/dev/null
fi
export KEFU_TLS_CA_FILE="$pki/ca.pem" KEFU_SIGNING_KEY="$pki/jwt-private.pem"
pids=()
prom_pid=""
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -n "$prom_pid" ] && kill -TERM "$prom_pid" 2>/dev/null || true
  for pid in "${pids[@]}" $prom_pid; do wait "$pid" 2>/dev/null || true; done
  "$repo/tools/dev/mariadb.sh" stop "$work/mariadb" >/dev/null 2>&1 || true
  if [ $code -ne 0 ]; then
    for f in "$work"/logs/*.log; do echo "---- last lines of $f"; tail -5 "$f"; done
  fi
  exit $code
}
trap cleanup EXIT INT TERM
step() { printf '[%3ds] %s\n' $(( $(date +%s) - started )) "$*"; }

# ---- database: one schema and user per service, by the Kubernetes init script ----
step "MariaDB on 127.0.0.1:$db_port"
"$repo/tools/dev/mariadb.sh" start "$work/mariadb" "$db_port" >/dev/null
for s in "${services[@]}"; do
  pw=""
  while [ ${#pw} -lt 24 ]; do pw+=$(head -c 128 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9'); done
  printf '%s' "${pw:0:24}" >"$work/passwords/$s"
done
(
  docker_process_sql() { mariadb --no-defaults --socket="$work/mariadb/mysqld.sock" -uroot "$@"; }
  KEFU_DB_SERVICES="${services[*]}" KEFU_DB_PASSWORD_DIR="$work/passwords"
  # shellcheck source=../../k8s/base/mysql/init/10-kefu-schemas.sh
  . "$repo/k8s/base/mysql/init/10-kefu-schemas.sh"
) >"$work/logs/init-sql.log" 2>&1 || { cat "$work/logs/init-sql.log"; echo "FAIL the init script"; exit 1; }
# each user reaches its own schema and no other
sql_as() { mariadb --no-defaults -h127.0.0.1 -P"$db_port" -u"kefu_$1" -p"$(cat "$work/passwords/$1")" -N -e "$2" 2>&1; }
for s in "${services[@]}"; do
  other=mysql
  for o in "${services[@]}"; do [ "$o" != "$s" ] && { other=$o; break; }; done
  sql_as "$s" "CREATE TABLE kefu_$s.probe (id INT); DROP TABLE kefu_$s.probe;" >/dev/null ||
    { echo "FAIL kefu_$s cannot use its schema"; exit 1; }
  seen=$(sql_as "$s" "SHOW DATABASES" | tr '\n' ' ')
  denied=$(sql_as "$s" "USE kefu_$other" || true)
  if grep -qw "kefu_$other" <<<"$seen" || ! grep -q "Access denied" <<<"$denied"; then
    echo "FAIL kefu_$s can reach kefu_$other: sees $seen; $denied"; exit 1
  fi
done
step "schemas and users by k8s/base/mysql/init/10-kefu-schemas.sh: ${services[*]} (each user only its own schema)"

# ---- the services, wired as make run wires them ----
for s in "${services[@]}"; do
  flags=(--listen_host=127.0.0.1 --grpc_port="${grpc[$s]}" --metrics_port="${metrics[$s]}"
         --db_host=127.0.0.1 --db_port="$db_port" --db_password_file="$work/passwords/$s"
         --tls_cert_file="$pki/service.pem" --tls_key_file="$pki/service-key.pem" --tls_ca_file="$pki/ca.pem"
         --gauge_refresh_ms=5000)
  for c in ${calls[$s]}; do has "$c" && flags+=("--${c}_addr=127.0.0.1:${grpc[$c]}"); done
  case $s in
    complaints) flags+=(--sweep_interval_ms=1000 --outbox_interval_ms=500) ;;
    contracts) flags+=(--sweep_interval_ms=2000 --outbox_interval_ms=500) ;;
    sales) flags+=(--outbox_interval_ms=500) ;;
  esac
  KEFU_JWT_PUBLIC_KEY_FILE="$pki/jwt-public.pem" KEFU_SERVICE_KEY_FILE="$pki/service-jwt-private.pem" \
  KEFU_SERVICE_PUBLIC_KEY_FILE="$pki/service-jwt-public.pem" \
    "$build/services/$s/kefu-$s" "${flags[@]}" >"$work/logs/$s.log" 2>&1 &
  pids+=($!)
done
for s in "${services[@]}"; do
  for i in $(seq 1 120); do
    "$kefuctl" --addr "127.0.0.1:${grpc[$s]}" health >/dev/null 2>&1 && break
    [ "$i" = 120 ] && { echo "FAIL $s did not become healthy"; exit 1; }
    sleep 0.5
  done
done
step "services SERVING over TLS: ${services[*]}"

# ---- Prometheus ----
targets=()
for s in "${services[@]}"; do targets+=("$s=127.0.0.1:${metrics[$s]}"); done
"$repo/deploy/prometheus/local-config.sh" "$work/prometheus.yml" 1s "${targets[@]}"
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus-data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/logs/prometheus.log" 2>&1 &
prom_pid=$!
prom="http://127.0.0.1:$prom_port"
for i in $(seq 1 120); do
  up=$("$python" - "$prom" <<'PY' 2>/dev/null || echo 0
import json, sys, urllib.request
r = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?query=sum(up)", timeout=2))
print(int(float(r["data"]["result"][0]["value"][1])) if r["data"]["result"] else 0)
PY
)
  [ "$up" = "${#services[@]}" ] && break
  [ "$i" = 120 ] && { echo "FAIL Prometheus does not see ${#services[@]} targets up (sees $up)"; exit 1; }
  sleep 0.5
done
sleep 2   # a couple of scrapes before the workload, so increase() sees it all
step "Prometheus $prom scraping ${#services[@]} targets"

# ---- workload ----
K() { "$kefuctl" "$@"; }
export KEFU_CUSTOMERS_ADDR=127.0.0.1:${grpc[customers]} KEFU_SALES_ADDR=127.0.0.1:${grpc[sales]}
export KEFU_CONTRACTS_ADDR=127.0.0.1:${grpc[contracts]} KEFU_COMPLAINTS_ADDR=127.0.0.1:${grpc[complaints]}
export KEFU_PERFORMANCE_ADDR=127.0.0.1:${grpc[performance]}
"$build/tools/demo/kefu-demo-load" --addr "$KEFU_CUSTOMERS_ADDR" >"$work/logs/demo-load.log" 2>&1 ||
  { cat "$work/logs/demo-load.log"; echo "FAIL kefu-demo-load"; exit 1; }
step "kefu-demo-load: $(tail -1 "$work/logs/demo-load.log")"
"$repo/tools/dev/demo-services.sh" "$kefuctl" >"$work/logs/demo-services.log" 2>&1 || true
step "demo-services.sh: $(tr '\n' ' ' <"$work/logs/demo-services.log")"
# a few reads, and a client error (NotFound) for the error panels
for id in 1 2 3; do K customers get "$id" >/dev/null 2>&1 || true; done
K customers get 99999999 >/dev/null 2>&1 || true
has sales && { K sales pipeline --by stage >/dev/null 2>&1 || true; }
has contracts && { K contracts list --expiring-within 30 >/dev/null 2>&1 || true; }
has complaints && { K complaints list --overdue >/dev/null 2>&1 || true; }
if has customers && has complaints && has contracts && has sales; then K customers 360 1 >/dev/null 2>&1 || true; fi
# refused calls for the security panel and KefuAuthDeniedBurst: without a token, with a
# token of another key, a staff token signed with the services' key (all that a
# compromised pod holds), a staff token claiming the service role, and a role that
# may not read customers (HR)
if has customers; then
  KEFU_SIGNING_KEY= K customers get 1 >/dev/null 2>&1 && { echo "FAIL a call without a token was answered"; exit 1; }
  K --signing_key "$pki/service-key.pem" customers get 1 >/dev/null 2>&1 &&
    { echo "FAIL a token signed with another key was accepted"; exit 1; }
  K --signing_key "$pki/service-jwt-private.pem" --actor M0001 --roles senior_manager customers get 1 >/dev/null 2>&1 &&
    { echo "FAIL a staff token signed with the services' key was accepted"; exit 1; }
  K --roles service customers get 1 >/dev/null 2>&1 && { echo "FAIL a staff token with the service role was accepted"; exit 1; }
  K --actor H0001 --roles hr customers get 1 >/dev/null 2>&1 && { echo "FAIL HR read a customer"; exit 1; }
  step "refused: no token, a token of another key, a staff token of the services' key, a staff token with the service role, a role without access"
fi
if has performance; then
  "$here/performance_workload.sh" "$kefuctl" >"$work/logs/performance-workload.log" 2>&1 ||
    { cat "$work/logs/performance-workload.log"; echo "FAIL the performance workload"; exit 1; }
  step "performance workload: $(tail -1 "$work/logs/performance-workload.log")"
fi
step "workload done"

# ---- ask Prometheus ----
window=$(( $(date +%s) - started + 180 ))   # covers the run and live_check's retries
"$python" "$here/live_check.py" --prom "$prom" --repo "$repo" --services "${services[*]}" --window "$window" --wait 75
step "done"
