#!/usr/bin/env bash
# Generates what an overlay's secretGenerator reads, as files under
# k8s/overlays/<overlay>/secrets/ (git-ignored, mode 600): the database passwords, and
# through tools/dev/gen-pki.sh the TLS files (ca.pem, service.pem, service-key.pem;
# the certificate names every service in the overlay's namespace; ca-key.pem stays
# here) and the token keys: the staff token pair of a development identity provider
# (jwt-public.pem goes into the cluster; jwt-private.pem stays here, like ca-key.pem,
# for minting development tokens) and the services' own pair (service-jwt-private.pem,
# service-jwt-public.pem). A jwt-public.pem put here without jwt-private.pem (the
# public key of the organisation's identity provider) is kept as it is. Existing files
# are kept, so running it again changes nothing; delete a file to rotate it
# (k8s/README.md "Secrets").
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
  s="$dir/secrets"
  # an identity provider's public key without its private key: gen-pki.sh would
  # replace it by a new development pair, so keep it aside
  idp=""
  if [ -s "$s/jwt-public.pem" ] && [ ! -e "$s/jwt-private.pem" ]; then
    idp=$(mktemp "$s/.idp-public.XXXXXX")
    cp "$s/jwt-public.pem" "$idp"
  fi
  "$gen_pki" "$s" "$ns" >/dev/null
  if [ -n "$idp" ]; then
    rm -f "$s/jwt-private.pem"
    mv "$idp" "$s/jwt-public.pem"
    chmod 644 "$s/jwt-public.pem"
  fi
  # the services' own token pair (an older gen-pki.sh does not make it)
  if [ ! -s "$s/service-jwt-private.pem" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$s/service-jwt-private.pem" 2>/dev/null
    rm -f "$s/service-jwt-public.pem"
  fi
  [ -s "$s/service-jwt-public.pem" ] ||
    openssl pkey -in "$s/service-jwt-private.pem" -pubout -out "$s/service-jwt-public.pem" 2>/dev/null
  chmod 644 "$s/service-jwt-public.pem"
done
