# One schema kefu_<service> and one user kefu_<service> per service, the user
# granted only its own schema. Sourced by the mysql image's entrypoint on the first
# start of an empty data directory (docker_process_sql runs SQL as root there).
#
#   KEFU_DB_SERVICES       services this instance hosts, e.g. "customers sales"
#   KEFU_DB_PASSWORD_DIR   folder holding one file per service with its password
#                          (the mounted Secrets); default /var/run/secrets/kefu/db
#
# The same script provisions the temporary MariaDB of tests/deploy/live_test.sh.
kefu_password_dir=${KEFU_DB_PASSWORD_DIR:-/var/run/secrets/kefu/db}
for kefu_svc in ${KEFU_DB_SERVICES:?KEFU_DB_SERVICES must name the services}; do
  case "$kefu_svc" in
    *[!a-z]*) echo "10-kefu-schemas.sh: bad service name '$kefu_svc'" >&2; exit 1 ;;
  esac
  kefu_pw=$(cat "$kefu_password_dir/$kefu_svc") || { echo "10-kefu-schemas.sh: no password for $kefu_svc" >&2; exit 1; }
  case "$kefu_pw" in
    ""|*[!A-Za-z0-9._~+-]*) echo "10-kefu-schemas.sh: the password of $kefu_svc must be non-empty [A-Za-z0-9._~+-]" >&2; exit 1 ;;
  esac
  docker_process_sql <<SQL
CREATE DATABASE IF NOT EXISTS \`kefu_${kefu_svc}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'kefu_${kefu_svc}'@'%' IDENTIFIED BY '${kefu_pw}';
ALTER USER 'kefu_${kefu_svc}'@'%' IDENTIFIED BY '${kefu_pw}';
GRANT ALL PRIVILEGES ON \`kefu_${kefu_svc}\`.* TO 'kefu_${kefu_svc}'@'%';
SQL
  echo "10-kefu-schemas.sh: schema and user kefu_${kefu_svc} ready"
done
unset kefu_password_dir kefu_svc kefu_pw
