#!/usr/bin/env bash
# The benchmark (not part of scripts/test.sh): `cargo xtask bench` (xtask/src/bench) builds
# release binaries, then runs the pair and a floor of echo apps, each with two real daprd,
# under oha load at 1, 16 and 64 concurrent. Prints requests/s, p50, p99, errors, RSS, CPU
# time per request and start-up times with the ratios ours/floor, and writes
# results/bench.json and results/bench.svg. Then the container image's size and its apps' start
# from the image's root filesystem next to the binaries' (`cargo xtask image`; as root;
# results/image.json), reported, not a target.
# Arguments: --duration SECS (per level, default 30), --rounds N (default 6), --levels 1,16,64,
# --warmup SECS, --starts N, --out DIR, --oha PATH, --no-image, --no-rollout. About five
# minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
exec cargo xtask bench "$@"
