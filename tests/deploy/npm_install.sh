#!/usr/bin/env bash
# CTest fixture: installs the npm packages of tests/deploy/package-lock.json into
# <dest>/node_modules (under the build tree), with npm's cache there too. Does
# nothing when that lock file is already installed.
#   npm_install.sh <tests/deploy> <dest>
set -euo pipefail
src=${1:?usage: npm_install.sh <tests/deploy> <dest>}
dest=${2:?destination required}
command -v npm >/dev/null || { echo "npm not found: run tools/dev/install-deps.sh" >&2; exit 1; }
mkdir -p "$dest"
if [ -f "$dest/.installed" ] && cmp -s "$src/package-lock.json" "$dest/.installed"; then
  echo "npm packages up to date in $dest"
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
rm -f "$dest/.installed"
cd "$dest"
for attempt in 1 2 3; do
  if npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cache "$dest/.npm-cache"; then
    cp package-lock.json .installed
    echo "npm packages installed in $dest"
    exit 0
  fi
  echo "npm ci failed (attempt $attempt)" >&2
  sleep $((attempt * 5))
done
exit 1
