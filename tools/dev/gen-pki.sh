#!/usr/bin/env bash
# Development PKI for `make run`, the tests and local experiments (never production):
#   ca.pem / ca-key.pem             a local certificate authority
#   service.pem / service-key.pem   one certificate for every kefu service, usable as
#                                   server and as client (mutual TLS); names: localhost,
#                                   127.0.0.1, <service> and kefu-<service> with their
#                                   cluster DNS names
#   jwt-private.pem / jwt-public.pem  the RS256 pair of staff tokens (standing in for the
#                                   identity provider: kefuctl signs with the private half)
#   service-jwt-private.pem / -public.pem  the pair the services sign their own tokens with
# Idempotent: existing files are kept. Usage: gen-pki.sh <dir> [k8s namespace]
set -euo pipefail
dir=${1:?usage: gen-pki.sh <dir> [namespace]}
ns=${2:-kefu}
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 825 \
    -subj "/O=kefu development/CN=kefu development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

if [ ! -f service.pem ]; then
  san="DNS:localhost,IP:127.0.0.1"
  for s in customers sales contracts complaints performance; do
    # The Kubernetes Services are named after the service (k8s/base): peers dial "customers:50051".
    san="$san,DNS:$s,DNS:$s.$ns,DNS:$s.$ns.svc,DNS:$s.$ns.svc.cluster.local"
    san="$san,DNS:kefu-$s,DNS:kefu-$s.$ns,DNS:kefu-$s.$ns.svc,DNS:kefu-$s.$ns.svc.cluster.local"
  done
  openssl req -newkey rsa:2048 -nodes -keyout service-key.pem -out service.csr \
    -subj "/O=kefu development/CN=kefu-service" 2>/dev/null
  printf '%s\n' "subjectAltName=$san" "extendedKeyUsage=serverAuth,clientAuth" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "basicConstraints=critical,CA:FALSE" >service.ext
  openssl x509 -req -in service.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out service.pem \
    -days 397 -extfile service.ext 2>/dev/null
  rm -f service.csr service.ext ca.srl
fi

# Staff tokens (the identity provider's pair; only the public half goes to services) and
# service tokens (the services' own pair).
for pair in jwt service-jwt; do
  if [ ! -f "$pair-private.pem" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pair-private.pem" 2>/dev/null
    openssl pkey -in "$pair-private.pem" -pubout -out "$pair-public.pem" 2>/dev/null
  fi
done
# Readable by the local user only, except what is public anyway.
chmod 644 ca.pem service.pem jwt-public.pem service-jwt-public.pem
echo "$dir: ca.pem service.pem service-key.pem jwt-private.pem jwt-public.pem service-jwt-private.pem service-jwt-public.pem"
