#!/usr/bin/env bash
# An ephemeral MariaDB owned by the caller, for `make run` and the tests.
#   mariadb.sh start <dir> <port>     initialise (once) and start; waits until it answers
#   mariadb.sh stop <dir>             stop it (SIGTERM, then SIGKILL after 30 s)
#   mariadb.sh kill <dir>             SIGKILL, for crash tests
#   mariadb.sh provision <dir> <service>...   one schema and one user per service
#   mariadb.sh sql <dir> <statement>  run SQL as the admin over the socket
# Sizing (env, for `start`): KEFU_DB_BUFFER_POOL (256M) and KEFU_DB_REDO_LOG (128M) fit the
# small data sets of `make run` and the tests; the soak sets production-like sizes.
# Root is only reachable over the socket; an admin user kefu_admin@127.0.0.1 (no
# password, loopback only) lets tests create throw-away schemas over TCP.
set -euo pipefail

cmd=${1:?usage: mariadb.sh start|stop|kill|provision|sql <dir> ...}
dir=${2:?data directory required}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sock="$dir/mysqld.sock"
me=$(id -un)

client() { mariadb --no-defaults --socket="$sock" -uroot "$@"; }

case "$cmd" in
start)
  port=${3:?port required}
  if [ -f "$dir/mysqld.pid" ] && kill -0 "$(cat "$dir/mysqld.pid")" 2>/dev/null; then
    echo "mariadb already running in $dir"; exit 0
  fi
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$me" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
      || { cat "$dir/install.log"; exit 1; }
  fi
  # Durable settings (fsync per commit, binlog off as on a single primary without replicas).
  nohup mariadbd --no-defaults --datadir="$dir/data" --socket="$sock" --port="$port" \
    --bind-address=127.0.0.1 --user="$me" --pid-file="$dir/mysqld.pid" \
    --log-error="$dir/mysqld.err" --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size="${KEFU_DB_BUFFER_POOL:-256M}" \
    --innodb-log-file-size="${KEFU_DB_REDO_LOG:-128M}" \
    --innodb-flush-log-at-trx-commit=1 --max-connections=500 \
    --max-allowed-packet=64M >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    if mariadb-admin --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1; then
      client -e "CREATE USER IF NOT EXISTS 'kefu_admin'@'127.0.0.1';
                 GRANT ALL ON *.* TO 'kefu_admin'@'127.0.0.1' WITH GRANT OPTION;"
      echo "mariadb up on 127.0.0.1:$port (data in $dir)"
      exit 0
    fi
    sleep 0.5
  done
  echo "mariadb did not start; last log lines:" >&2
  tail -20 "$dir/mysqld.err" >&2 || true
  exit 1
  ;;
stop|kill)
  [ -f "$dir/mysqld.pid" ] || exit 0
  pid=$(cat "$dir/mysqld.pid")
  if [ "$cmd" = kill ]; then kill -9 "$pid" 2>/dev/null || true; rm -f "$dir/mysqld.pid"; exit 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  ;;
provision)
  shift 2
  for svc in "$@"; do
    pw=${KEFU_DEV_DB_PASSWORD:-kefu-dev}
    client -e "CREATE DATABASE IF NOT EXISTS kefu_${svc} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
               CREATE USER IF NOT EXISTS 'kefu_${svc}'@'127.0.0.1' IDENTIFIED BY '${pw}';
               CREATE USER IF NOT EXISTS 'kefu_${svc}'@'localhost' IDENTIFIED BY '${pw}';
               GRANT ALL ON kefu_${svc}.* TO 'kefu_${svc}'@'127.0.0.1';
               GRANT ALL ON kefu_${svc}.* TO 'kefu_${svc}'@'localhost';"
  done
  ;;
sql)
  client -e "${3:?statement required}"
  ;;
*)
  echo "unknown command $cmd" >&2; exit 2 ;;
esac
