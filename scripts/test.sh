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

# ---- Cosmos DB tier -----------------------------------------------------------------------
# The end-to-end suite also runs against a Cosmos DB protocol server on loopback: npm
# @vercel/cosmosdb-server with the wrapper tests/cosmos/server.js, under Node.js, over TLS with
# a certificate openssl makes per run. Installed once; a re-run with current node_modules
# skips npm.
if ! { command -v node && command -v npm && command -v openssl; } >/dev/null; then
  command -v apt-get >/dev/null || { echo "test.sh: install Node.js 18+, npm and openssl" >&2; exit 1; }
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root apt-get install -y -qq nodejs npm openssl
fi
if [ ! tests/cosmos/node_modules/.package-lock.json -nt tests/cosmos/package-lock.json ]; then
  npm ci --prefix tests/cosmos --no-audit --no-fund
fi
# ---- end of the Cosmos DB tier ---------------------------------------------------------------
# --- login (tests/tests/login.rs) ------------------------------------------------------------
# The local identity provider (npm `oidc-provider`, pinned in tests/oidc/package-lock.json) and a
# headless Chromium with its WebDriver (Debian `chromium`, `chromium-driver`). Each is installed
# only when missing, so a re-run is quick.
need node "install Node.js 20.19 or newer (with npm) for the local identity provider"
if [ ! -d tests/oidc/node_modules/oidc-provider ] ||
  [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/oidc --no-audit --no-fund
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver
fi
# --- end login --------------------------------------------------------------------------------

# The end-to-end tests start the apps' binaries, so build them first.
cargo build --locked --workspace --bins
cargo test --locked --workspace

# --- deploy files: image entry, AKS, Container Apps, validated offline -------------
# Lints (shellcheck, hadolint), az commands/flags against a pinned azure-cli, kustomize +
# kubernetes-validate, Dapr CRD schemas, every Dapr file loaded by the real daprd, Bicep.
scripts/validate-deploy.sh
# --- end deploy files ------------------------------------------------------------------------
