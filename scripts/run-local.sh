#!/usr/bin/env bash
# Runs the pair on this machine: Sentry, backend + daprd, frontend + daprd (on
# http://127.0.0.1:8080), with the embedded SQLite state store under ./.data.
# Arguments go to the launcher: --port N, --data-dir DIR, --otlp-endpoint URL (a collector
# for the traces of both apps and both daprd). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
cargo build --locked --bins --quiet
exec target/debug/run-local "$@"
