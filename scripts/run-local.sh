#!/usr/bin/env bash
# Runs the pair on this machine: Sentry, backend + daprd, frontend + daprd (on
# http://127.0.0.1:8080), with the embedded SQLite state store under ./.data.
# Arguments go to the launcher: --port N, --data-dir DIR, --otlp-endpoint URL (a collector
# for the traces of both apps and both daprd), --login (a local identity provider and the
# OAuth2 login on the frontend's sidecar). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
# --login needs the local identity provider (npm oidc-provider), installed once.
case " $* " in
*" --login "*) [ -d tests/oidc/node_modules/oidc-provider ] || npm ci --prefix tests/oidc --no-audit --no-fund ;;
esac
cargo build --locked --bins --quiet
exec target/debug/run-local "$@"
