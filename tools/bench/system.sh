# shellcheck shell=bash
# Sourced by the benches that need the whole system (scale.sh, memory.sh): a private
# MariaDB and all five services on free loopback ports, with the demo data.
#
# The caller sets root and build, then calls, in order:
#   system_init OUT [tool...]       checks that the tools are built, makes OUT (results;
#                                   the services' logs go there) afresh and a temporary
#                                   work directory, and stops everything on exit
#   system_start_db [buffer_pool]   MariaDB with the five schemas, a throw-away PKI, and
#                                   the environment every service and tool reads
#   system_start_services           the five binaries, each waited for until healthy; a
#                                   service's extra flags from system_extra[NAME]
#   system_load_demo                the demo data, through the services
# Afterwards: out, work, addr NAME, pid_of[NAME], metrics_port[NAME], db_port, and
# metric NAME SERIES: a series' value on that service's /metrics.

# root and build come from the caller, which also reads pid_of.
# shellcheck disable=SC2154,SC2034
# shellcheck source=tools/dev/free-port.sh
source "$root/tools/dev/free-port.sh"
services=(customers contracts complaints sales performance)
system_pids=()
declare -A port metrics_port pid_of system_extra

addr() { echo "127.0.0.1:${port[$1]}"; }
metric() {  # SERVICE SERIES: its value (0 when absent or unreadable), read over bash's /dev/tcp
  local v
  v=$({ exec 3<>"/dev/tcp/127.0.0.1/${metrics_port[$1]}" &&
        printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
        awk -v s="$2" '$1 == s { printf "%.0f", $2 }' <&3; } 2>/dev/null) || v=0
  echo "${v:-0}"
}

system_init() {
  out=$1
  shift
  local f
  for f in "$@" "$build/tools/kefuctl/kefuctl" "$build/tools/demo/kefu-demo-load"; do
    [ -x "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
  done
  rm -rf "$out"
  mkdir -p "$out"
  work=$(mktemp -d /tmp/kefu-system-XXXXXX)
  trap system_exit EXIT
  trap 'exit 130' INT TERM
}

system_start_db() {
  db_port=$(free_port)
  export KEFU_DEV_DB_PASSWORD=kefu-bench KEFU_DB_PASSWORD=kefu-bench
  export KEFU_DB_BUFFER_POOL=${KEFU_DB_BUFFER_POOL:-${1:-1G}} KEFU_DB_REDO_LOG=${KEFU_DB_REDO_LOG:-1G}
  "$root/tools/dev/mariadb.sh" start "$work/mariadb" "$db_port" >/dev/null
  "$root/tools/dev/mariadb.sh" provision "$work/mariadb" "${services[@]}"
  "$root/tools/dev/gen-pki.sh" "$work/pki" >/dev/null
  export KEFU_PLAINTEXT=true KEFU_LISTEN_HOST=127.0.0.1 KEFU_JWT_PUBLIC_KEY_FILE="$work/pki/jwt-public.pem" \
    KEFU_SIGNING_KEY="$work/pki/jwt-private.pem" KEFU_SERVICE_KEY_FILE="$work/pki/service-jwt-private.pem" \
    KEFU_SERVICE_PUBLIC_KEY_FILE="$work/pki/service-jwt-public.pem"
}

system_start_services() {
  local s i
  for s in "${services[@]}"; do port[$s]=$(free_port); done
  local -A peers=(
    [customers]="--complaints_addr=$(addr complaints) --contracts_addr=$(addr contracts) --sales_addr=$(addr sales) --performance_addr=$(addr performance)"
    [contracts]="--customers_addr=$(addr customers)"
    [complaints]="--customers_addr=$(addr customers) --contracts_addr=$(addr contracts) --performance_addr=$(addr performance)"
    [sales]="--customers_addr=$(addr customers) --contracts_addr=$(addr contracts)"
    [performance]="--customers_addr=$(addr customers) --contracts_addr=$(addr contracts) --complaints_addr=$(addr complaints)"
  )
  for s in "${services[@]}"; do
    metrics_port[$s]=$(free_port)
    # shellcheck disable=SC2086  # whole flags
    "$build/services/$s/kefu-$s" --grpc_port="${port[$s]}" --metrics_port="${metrics_port[$s]}" --db_port="$db_port" \
      ${peers[$s]} ${system_extra[$s]:-} >"$out/$s.log" 2>&1 &
    system_pids+=($!)
    pid_of[$s]=$!
  done
  for s in "${services[@]}"; do
    for i in $(seq 1 120); do
      if "$build/tools/kefuctl/kefuctl" --addr "$(addr "$s")" health >/dev/null 2>&1; then break; fi
      [ "$i" = 120 ] && { echo "$s did not become healthy; see $out/$s.log" >&2; return 1; }
      sleep 0.5
    done
  done
}

system_load_demo() {
  "$build/tools/demo/kefu-demo-load" --addr "$(addr customers)" >"$out/demo.log" 2>&1
  KEFU_CUSTOMERS_ADDR=$(addr customers) KEFU_SALES_ADDR=$(addr sales) KEFU_CONTRACTS_ADDR=$(addr contracts) \
    KEFU_COMPLAINTS_ADDR=$(addr complaints) KEFU_PERFORMANCE_ADDR=$(addr performance) \
    "$root/tools/dev/demo-services.sh" "$build/tools/kefuctl/kefuctl" >>"$out/demo.log" 2>&1
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
system_exit() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${system_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${system_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/tools/dev/mariadb.sh" stop "$work/mariadb" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
