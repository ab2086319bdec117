#!/usr/bin/env bash
# Renders every overlay of k8s/ (and the base with each component) with
# `kubectl kustomize` from a copy of k8s/ and deploy/ (no secret files of a
# developer's checkout get in; tools/dev/gen-pki.sh comes along for gen-secrets.sh),
# then checks the result offline with k8s_check.mjs.
#   k8s_test.sh <repo> <work dir> <node_modules dir>
set -euo pipefail
src=$(cd "${1:?usage: k8s_test.sh <repo> <work> <node_modules>}" && pwd)
work=${2:?work dir required}
modules=${3:?node_modules dir required}
here=$(cd "$(dirname "$0")" && pwd)
command -v kubectl >/dev/null || { echo "kubectl not found" >&2; exit 1; }
kubectl version --client 2>/dev/null | grep -i kustomize || true

rm -rf "$work"
mkdir -p "$work/tree" "$work/rendered"
work=$(cd "$work" && pwd)
cp -r "$src/k8s" "$src/deploy" "$work/tree/"
mkdir -p "$work/tree/tools/dev"
cp "$src/tools/dev/gen-pki.sh" "$work/tree/tools/dev/"
rm -rf "$work"/tree/k8s/overlays/*/secrets
k8s="$work/tree/k8s"
overlays=()
for d in "$k8s"/overlays/*/; do overlays+=("$(basename "$d")"); done
[ ${#overlays[@]} -ge 2 ] || { echo "expected overlays dev and prod, found: ${overlays[*]}" >&2; exit 1; }

fail=0
# Without the generated password files an overlay must not render: if it did, its
# Secrets would come from something committed.
for o in "${overlays[@]}"; do
  if kubectl kustomize "$k8s/overlays/$o" >/dev/null 2>&1; then
    echo "FAIL overlay $o renders without k8s/gen-secrets.sh having run: where do its Secrets come from?"
    fail=1
  else
    echo "ok   overlay $o needs the generated secret files"
  fi
done

KEFU_K8S_DIR="$k8s" "$k8s/gen-secrets.sh"
args=()
for o in "${overlays[@]}"; do
  out="$work/rendered/overlay-$o.yaml"
  kubectl kustomize "$k8s/overlays/$o" >"$out" || { echo "FAIL kubectl kustomize overlays/$o"; fail=1; continue; }
  kubectl kustomize "$k8s/overlays/$o" | cmp -s - "$out" || { echo "FAIL overlays/$o renders differently twice"; fail=1; }
  echo "ok   rendered overlays/$o ($(grep -c '^kind:' "$out") objects)"
  args+=(--overlay "$o=$out")
done
# Each component on top of the base alone, so that each renders by itself too.
for d in "$k8s"/components/*/; do
  c=$(basename "$d")
  t="$k8s/.component-test-$c"
  mkdir -p "$t"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base\ncomponents:\n- ../components/%s\n' "$c" >"$t/kustomization.yaml"
  out="$work/rendered/component-$c.yaml"
  kubectl kustomize "$t" >"$out" || { echo "FAIL kubectl kustomize base + components/$c"; fail=1; continue; }
  echo "ok   rendered base + components/$c"
  args+=(--component "$c=$out")
  # every component is used by some overlay
  grep -q "components/$c\$" "$k8s"/overlays/*/kustomization.yaml || { echo "FAIL components/$c is used by no overlay"; fail=1; }
done

node "$here/k8s_check.mjs" --node-modules "$modules" --work "$work" --src "$src" --tree "$work/tree" "${args[@]}" || fail=1
# The checks themselves: each must catch a manifest broken on purpose.
echo "self-test of the checks on mutated copies of the prod render:"
node "$here/k8s_check.mjs" --node-modules "$modules" --work "$work" --src "$src" --tree "$work/tree" \
  --selftest "$work/rendered/overlay-prod.yaml" || fail=1
exit $fail
