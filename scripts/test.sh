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
