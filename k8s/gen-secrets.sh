#!/usr/bin/env bash
# Generates what an overlay's secretGenerator reads, as files under
# k8s/overlays/<overlay>/secrets/ (git-ignored, mode 600): the database passwords, and
# through tools/dev/gen-pki.sh the TLS files (ca.pem, service.pem, service-key.pem;
# the certificate names every service in the overlay's namespace; ca-key.pem stays
# here) and the token key pair (jwt-public.pem, jwt-private.pem). Existing files are
# kept, so running it again changes nothing; delete a file to rotate it (k8s/README.md
# "Secrets").
#   k8s/gen-secrets.sh               every overlay
#   k8s/gen-secrets.sh dev [prod]    the named ones
#   KEFU_K8S_DIR=<copy of k8s/>      work on a copy instead (the tests do)
set -euo pipefail
k8s=${KEFU_K8S_DIR:-$(cd "$(dirname "$0")" && pwd)}
gen_pki="$(dirname "$0")/../tools/dev/gen-pki.sh"
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
  # TLS and token keys, for the namespace the overlay deploys to
  ns=$(sed -n 's/^namespace:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$dir/kustomization.yaml" | head -1)
  [ -n "$ns" ] || { echo "gen-secrets.sh: $dir/kustomization.yaml sets no namespace" >&2; exit 2; }
  "$gen_pki" "$dir/secrets" "$ns" >/dev/null
done
