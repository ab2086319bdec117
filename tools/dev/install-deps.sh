#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and `make run` need. Idempotent:
# does nothing (and needs no network) when every package is already installed.
set -euo pipefail

packages=(
  g++ make cmake pkg-config               # toolchain
  libgrpc++-dev protobuf-compiler-grpc     # gRPC C++ 1.51 and its protoc plugin
  libprotobuf-dev protobuf-compiler        # protobuf 3.21
  libabsl-dev                              # Abseil (status, strings, time, flags)
  libmysqlcppconn-dev                      # MySQL Connector/C++ 1.1 (cppconn API)
  libjwt-dev openssl                       # bearer-token signatures; dev certificates and keys
  prometheus-cpp-dev                       # /metrics endpoint and metric types
  libgtest-dev libgmock-dev                # GoogleTest
  mariadb-server mariadb-client            # the database for `make run` and the tests
  prometheus                               # Prometheus and promtool: `make run`, tests/deploy
  python3-yaml nodejs                      # tests/deploy (kubectl: see below)
  python3-grpcio python3-protobuf          # examples/python and its test
)
# Sanitizer and libFuzzer builds only (make fuzz-smoke, make test-sanitize), never the
# image: clang 16, not bookworm's default 14, which rejects lambdas capturing structured
# bindings (complaints/src/service.cc).
sanitizer_packages=(clang-16 libclang-rt-16-dev llvm-16)
packages+=("${sanitizer_packages[@]}")
# Debian's nodejs has no npm of its own; a Node.js that brings npm needs none.
command -v npm >/dev/null 2>&1 || packages+=(npm)
# tests/deploy render with `kubectl kustomize` (components need kustomize v5). Debian's
# kubernetes-client is too old, so the machine's kubectl package is used; when it is
# missing, ask apt for it (the machine's sources may carry it) and say so plainly if not.
if ! command -v kubectl >/dev/null 2>&1; then
  if apt-cache show kubectl >/dev/null 2>&1; then packages+=(kubectl)
  else echo "warning: no kubectl (with kustomize v5) available; the deploy_k8s test will fail" >&2; fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
