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
  prometheus-cpp-dev                       # /metrics endpoint and metric types
  libgtest-dev libgmock-dev                # GoogleTest
  mariadb-server mariadb-client            # the database for `make run` and the tests
  prometheus                               # Prometheus and promtool: `make run`, tests/deploy
  python3-yaml nodejs                      # tests/deploy (kubectl comes with the machine image)
  python3-grpcio python3-protobuf          # examples/python and its test
)
# Debian's nodejs has no npm of its own; a Node.js that brings npm needs none.
command -v npm >/dev/null 2>&1 || packages+=(npm)

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
