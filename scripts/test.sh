#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit and handler tests, then the
# end-to-end tests against real daprd and Sentry processes. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null || { echo "test.sh: $1 is needed ($2)" >&2; exit 1; }; }
need cargo "install Rust with rustup"
need go "install Go 1.21 or newer; it fetches the Go release Dapr pins by itself"

# The pinned daprd and sentry, built once from the Go module proxy and cached.
DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
echo "test.sh: Dapr $("$DAPR_BIN_DIR/daprd" --version) from $DAPR_BIN_DIR"

# The end-to-end tests start the apps' binaries, so build them first.
cargo build --locked --workspace --bins
cargo test --locked --workspace

# --- deploy files (issue 5): image entry, AKS, Container Apps, validated offline -------------
# Lints (shellcheck, hadolint), az commands/flags against a pinned azure-cli, kustomize +
# kubernetes-validate, Dapr CRD schemas, every Dapr file loaded by the real daprd, Bicep.
scripts/validate-deploy.sh
# --- end deploy files ------------------------------------------------------------------------
