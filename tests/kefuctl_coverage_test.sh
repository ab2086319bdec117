#!/usr/bin/env bash
# Every RPC of every kefu service (and the audit service every server offers) has a
# kefuctl command: each must be called somewhere in tools/kefuctl through its stub
# (`Stub::Name` or `->Name(`). A new RPC without a command fails here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
missing=()
total=0
for proto in "$root"/protos/kefu/*/v1/*.proto; do
  while read -r rpc; do
    total=$((total + 1))
    grep -Eq "(Stub::|->)${rpc}\b" "$root"/tools/kefuctl/*.cc || missing+=("$(basename "$proto" .proto).${rpc}")
  done < <(grep -Eo '^\s*rpc [A-Za-z0-9]+' "$proto" | awk '{ print $2 }')
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "kefuctl has no command for ${#missing[@]} of $total RPCs: ${missing[*]}" >&2
  exit 1
fi
echo "kefuctl covers all $total RPCs"
