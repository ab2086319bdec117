#!/usr/bin/env bash
# The Python example client (examples/python) against the real customers binary:
# generates the stubs, starts build/services/customers/kefu-customers (TLS, tokens) on a free loopback
# port with a throw-away schema and user on the CTest MariaDB (fixture "mariadb",
# $KEFU_TEST_DB_PORT), waits until kefuctl reports it healthy, runs kefu_client.py,
# stops the service with SIGTERM, drops the schema, and exits with the client's status.
#
# usage: tests/python_client_test.sh <build_dir> <source_dir>
# env:   KEFU_TEST_DB_PORT (required), KEFU_PYTHON (default /usr/bin/python3: Debian's
#        python3-grpcio and python3-protobuf are installed for the system interpreter)
set -euo pipefail

build=$(cd "${1:?usage: python_client_test.sh <build_dir> <source_dir>}" && pwd)
src=$(cd "${2:?usage: python_client_test.sh <build_dir> <source_dir>}" && pwd)
db_port=${KEFU_TEST_DB_PORT:?KEFU_TEST_DB_PORT is not set: run this test through ctest (make test)}
python=${KEFU_PYTHON:-/usr/bin/python3}
binary="$build/services/customers/kefu-customers"
kefuctl="$build/tools/kefuctl/kefuctl"

for f in "$binary" "$kefuctl"; do
  [ -x "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done
if ! "$python" -c 'import grpc, google.protobuf' 2>/dev/null; then
  echo "$python cannot import grpc: install python3-grpcio (tools/dev/install-deps.sh)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/kefu-pyclient-XXXXXX)
suffix="$(printf '%06x' $((RANDOM * 32768 + RANDOM)))$$"
schema="kefu_pyclient_$suffix"
user=${schema:0:32}
password="test-pw"
pid=""

admin_sql() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$db_port" -ukefu_admin -e "$1"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  admin_sql "DROP DATABASE IF EXISTS \`$schema\`; DROP USER IF EXISTS '$user'@'127.0.0.1';" || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== stubs: examples/python/gen.sh $work/stubs"
"$src/examples/python/gen.sh" "$work/stubs"

echo "== schema $schema on 127.0.0.1:$db_port"
admin_sql "CREATE DATABASE \`$schema\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
           CREATE USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
           GRANT ALL ON \`$schema\`.* TO '$user'@'127.0.0.1';"

echo "== TLS certificates and token keys: tools/dev/gen-pki.sh"
"$src/tools/dev/gen-pki.sh" "$work/pki" >/dev/null
export KEFU_TLS_CA_FILE="$work/pki/ca.pem"

# shellcheck source=tools/dev/free-port.sh
source "$src/tools/dev/free-port.sh"
port=$(free_port)
echo "== kefu-customers on 127.0.0.1:$port"
KEFU_DB_PASSWORD="$password" "$binary" --listen_host=127.0.0.1 --grpc_port="$port" --metrics_port=-1 \
  --db_port="$db_port" --db_name="$schema" --db_user="$user" \
  --tls_cert_file="$work/pki/service.pem" --tls_key_file="$work/pki/service-key.pem" \
  --jwt_public_key_file="$work/pki/jwt-public.pem" >"$work/customers.log" 2>&1 &
pid=$!

healthy=""
for _ in $(seq 1 60); do
  if "$kefuctl" --addr "127.0.0.1:$port" --timeout 1s health >/dev/null 2>&1; then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$healthy" ]; then
  echo "kefu-customers did not become healthy; its log:" >&2
  tail -30 "$work/customers.log" >&2
  exit 1
fi

echo "== examples/python/kefu_client.py"
client_rc=0
token=$("$kefuctl" token mint --signing_key "$work/pki/jwt-private.pem" --actor E1001 --roles account_manager --department D-PY --ttl 10m)
"$python" "$src/examples/python/kefu_client.py" --stubs "$work/stubs" --addr "127.0.0.1:$port" \
  --ca "$work/pki/ca.pem" --token "$token" --actor E1001 || client_rc=$?

echo "== SIGTERM kefu-customers"
kill -TERM "$pid"
service_rc=0
wait "$pid" || service_rc=$?
pid=""
echo "kefu-customers exited with $service_rc"
if [ "$client_rc" != 0 ]; then
  echo "client failed ($client_rc); service log tail:" >&2
  tail -30 "$work/customers.log" >&2
fi
exit "$client_rc"
