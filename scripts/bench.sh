#!/usr/bin/env bash
# The benchmark (not part of scripts/test.sh): builds release binaries, then runs the pair and
# a floor of echo apps, each with two real daprd, under oha load at 1, 16 and 64 concurrent.
# Prints requests/s, p50, p99, errors, RSS, CPU time per request and start-up times with the
# ratios ours/floor, and writes results/bench.json and results/bench.svg.
# Arguments go to the driver (tests/src/bin/bench): --duration SECS (per level, default 30),
# --rounds N (default 6), --levels 1,16,64, --warmup SECS, --starts N, --out DIR. About five
# minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

# The load generator, pinned, built once into a cache folder (with its default features: oha
# 1.16 does not build without TLS, though the pair is plain HTTP on loopback).
OHA_VERSION=1.16.0
OHA_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/dapr-pair/oha-$OHA_VERSION"
if [ ! -x "$OHA_ROOT/bin/oha" ]; then
  echo "bench.sh: building oha $OHA_VERSION into $OHA_ROOT (once) ..." >&2
  cargo install --locked --quiet oha --version "$OHA_VERSION" --root "$OHA_ROOT"
fi

DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
cargo build --locked --release --bins --quiet
exec target/release/bench --oha "$OHA_ROOT/bin/oha" "$@"
