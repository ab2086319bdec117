#!/usr/bin/env bash
# Makes the fuzz seed corpus tests/fuzz/corpus/<service>/ from tests/fuzz/seeds/<service>.txt
# (the requests in protobuf text format, each block headed "@ Method"). Each seed file is
# the method's index byte (its position among the service's unary methods, in the
# order of the proto, as the fuzz target counts them) followed by the encoded request,
# named <index>_<Method>_<n>. Deterministic: re-running reproduces the same files.
# Fails when a seed names no unary method, or a unary method has no seed.
#   tools/dev/fuzz-seeds.sh [service...]     (default: all five)
set -euo pipefail
cd "$(dirname "$0")/../.."
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(customers sales contracts complaints performance)
command -v protoc >/dev/null || { echo "protoc not found (tools/dev/install-deps.sh)" >&2; exit 1; }

for svc in "${services[@]}"; do
  proto=kefu/$svc/v1/$svc.proto
  seeds=tests/fuzz/seeds/$svc.txt
  out=tests/fuzz/corpus/$svc
  [ -f "protos/$proto" ] && [ -f "$seeds" ] || { echo "no protos/$proto or $seeds" >&2; exit 1; }
  package=$(sed -n 's/^package \([A-Za-z0-9_.]*\);.*/\1/p' "protos/$proto")

  # The unary methods in declaration order (= descriptor order): name -> index, input type.
  declare -A index=() input=() seeded=()
  names=()
  while read -r name req; do
    index[$name]=${#names[@]}
    input[$name]=$req
    names+=("$name")
  done < <(sed 's#//.*##' "protos/$proto" | tr '\n' ' ' |
           grep -oE 'rpc +[A-Za-z0-9_]+ *\( *(stream +)?[A-Za-z0-9_.]+ *\) *returns *\( *(stream +)?[A-Za-z0-9_.]+ *\)' |
           grep -v stream | sed -E 's/rpc +([A-Za-z0-9_]+) *\( *([A-Za-z0-9_.]+).*/\1 \2/')
  [ ${#names[@]} -gt 0 ] || { echo "$proto: no unary methods found" >&2; exit 1; }
  [ ${#names[@]} -le 256 ] || { echo "$proto: more than 256 unary methods" >&2; exit 1; }

  rm -rf "$out"
  mkdir -p "$out"
  declare -A count=()
  emit() {  # method, text
    local m=$1 text=$2
    [ -n "${index[$m]+x}" ] || { echo "$seeds: $m is not a unary method of $proto" >&2; exit 1; }
    local type=${input[$m]}
    [[ $type == *.* ]] || type=$package.$type
    count[$m]=$(( ${count[$m]:-0} + 1 ))
    local file
    file=$out/$(printf '%03d' "${index[$m]}")_${m}_${count[$m]}
    printf "\\$(printf '%03o' "${index[$m]}")" >"$file"
    printf '%s\n' "$text" | protoc --encode="$type" -I protos "$proto" >>"$file" ||
      { echo "$seeds: cannot encode the seed for $m:" >&2; printf '%s\n' "$text" >&2; exit 1; }
    seeded[$m]=1
  }
  method="" text=""
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ ^@[[:space:]]*([A-Za-z0-9_]+) ]]; then
      [ -z "$method" ] || emit "$method" "$text"
      method=${BASH_REMATCH[1]} text=""
    elif [[ ! $line =~ ^[[:space:]]*# ]]; then
      text+="$line"$'\n'
    fi
  done <"$seeds"
  [ -z "$method" ] || emit "$method" "$text"

  missing=()
  for m in "${names[@]}"; do [ -n "${seeded[$m]+x}" ] || missing+=("$m"); done
  [ ${#missing[@]} -eq 0 ] || { echo "$seeds: no seed for ${missing[*]}" >&2; exit 1; }
  echo "$svc: $(ls "$out" | wc -l) seeds for ${#names[@]} unary methods in $out"
  unset index input seeded count
done
