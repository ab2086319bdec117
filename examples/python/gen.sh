#!/usr/bin/env bash
# Generates the Python stubs kefu_client.py needs into <out_dir> (never into git):
#   kefu/common/v1/common_pb2.py                  ErrorDetail (protos/kefu/common/v1)
#   kefu/customers/v1/customers_pb2{,_grpc}.py    CustomerService (protos/kefu/customers/v1)
#   health/v1/health_pb2{,_grpc}.py               grpc.health.v1.Health (local copy)
#   google/rpc/status_pb2.py                      google.rpc.Status (local copy)
# Uses Debian's protoc (protobuf-compiler) and grpc_python_plugin
# (protobuf-compiler-grpc), matching python3-protobuf and python3-grpcio.
#
# usage: examples/python/gen.sh <out_dir>
set -euo pipefail

out=${1:?usage: gen.sh <out_dir>}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

protoc=$(command -v protoc) || { echo "gen.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
plugin=$(command -v grpc_python_plugin) ||
  { echo "gen.sh: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)" >&2; exit 1; }
mkdir -p "$out"

# The kefu API, straight from protos/ (the well-known google/protobuf types come with
# protoc and, at run time, with python3-protobuf).
"$protoc" --proto_path="$root/protos" --python_out="$out" \
  kefu/common/v1/common.proto
"$protoc" --proto_path="$root/protos" --python_out="$out" \
  --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$plugin" \
  kefu/customers/v1/customers.proto

# The rich error status.
"$protoc" --proto_path="$here/protos" --python_out="$out" google/rpc/status.proto

# The health protocol. Its package stays grpc.health.v1 (what goes on the wire), but it
# is compiled from inside protos/grpc so that the Python module is health.v1.health_pb2:
# a top-level "grpc" directory of stubs would be hidden by the grpcio package "grpc".
"$protoc" --proto_path="$here/protos/grpc" --python_out="$out" \
  --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$plugin" \
  health/v1/health.proto

echo "Python stubs generated in $out"
