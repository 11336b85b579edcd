#!/usr/bin/env bash
# Runs the pair on this machine: Sentry, backend + daprd, frontend + daprd (on
# http://127.0.0.1:8080), with the embedded SQLite state store under ./.data.
# Arguments go to `cargo xtask run-local` (xtask/src/run_local.rs): --port N, --data-dir DIR,
# --otlp-endpoint URL (a collector for the traces of both apps and both daprd), --login (a
# local identity provider and the frontend's session sign-in), --frontend-replicas N (N
# frontends behind nginx), --backend-replicas N, --login-mode middleware (Dapr's OAuth2
# middleware, one-user demos). With replicas, `cargo xtask rollout --data-dir DIR` replaces
# them all while the pair serves (docs/rollouts.md).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

# The pinned daprd and sentry, built once from the Go module proxy and cached.
DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
exec cargo xtask run-local "$@"
