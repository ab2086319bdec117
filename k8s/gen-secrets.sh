#!/usr/bin/env bash
# Generates the database passwords an overlay's secretGenerator reads, as files under
# k8s/overlays/<overlay>/secrets/ (git-ignored, mode 600). Existing files are kept, so
# running it again changes nothing; delete a file to rotate that password.
#   k8s/gen-secrets.sh               every overlay
#   k8s/gen-secrets.sh dev [prod]    the named ones
#   KEFU_K8S_DIR=<copy of k8s/>      work on a copy instead (the tests do)
set -euo pipefail
k8s=${KEFU_K8S_DIR:-$(cd "$(dirname "$0")" && pwd)}
names=(mysql-root db-customers db-sales db-contracts db-complaints db-performance)
overlays=("$@")
if [ ${#overlays[@]} -eq 0 ]; then
  for d in "$k8s"/overlays/*/; do overlays+=("$(basename "$d")"); done
fi
umask 077
for o in "${overlays[@]}"; do
  dir="$k8s/overlays/$o"
  [ -f "$dir/kustomization.yaml" ] || { echo "gen-secrets.sh: no overlay $dir" >&2; exit 2; }
  mkdir -p "$dir/secrets"
  for n in "${names[@]}"; do
    f="$dir/secrets/$n.password"
    [ -s "$f" ] && continue
    # 32 characters of [A-Za-z0-9]: safe in SQL literals and config files alike.
    pw=""
    while [ ${#pw} -lt 32 ]; do pw+=$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9'); done
    pw=${pw:0:32}
    printf '%s' "$pw" >"$f"
  done
done
