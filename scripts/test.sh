#!/usr/bin/env bash
# Installs what the tests need and runs every check: clippy and cargo-deny, the unit and
# handler tests, the end-to-end tests against real daprd and Sentry processes (tests/), and the
# deploy files validated offline with the real tools (`cargo xtask validate-deploy`).
# CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null || { echo "test.sh: $1 is needed ($2)" >&2; exit 1; }; }
need cargo "install Rust with rustup"
need go "install Go 1.21 or newer; it fetches the Go release Dapr pins by itself"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  command -v apt-get >/dev/null || { echo "test.sh: install $*" >&2; exit 1; }
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@"
}

# The pinned daprd and sentry, built once from the Go module proxy and cached.
DAPR_BIN_DIR="$(scripts/install-dapr.sh)"
export DAPR_BIN_DIR
echo "test.sh: Dapr $("$DAPR_BIN_DIR/daprd" --version) from $DAPR_BIN_DIR"

# The local peers the launcher starts: the identity provider (npm oidc-provider) and the
# Cosmos DB protocol server (npm @vercel/cosmosdb-server), both under Node.js, which the
# launcher installs from their lock files on first use; openssl makes the Cosmos server's
# certificate. Headless Chromium with its WebDriver signs in like a person.
missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
command -v openssl >/dev/null || missing+=(openssl)
command -v chromium >/dev/null && command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
# nginx: the round-robin proxy in front of two frontend replicas in the login tests.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx-light)
# The container image (`cargo xtask image`, docs/image.md): buildah builds the Dockerfile's
# runtime stage without a daemon; the binary in it is built here for musl, whose C parts
# (aws-lc-sys) need Debian's musl-gcc.
command -v buildah >/dev/null || missing+=(buildah)
command -v musl-gcc >/dev/null || missing+=(musl-tools)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
rustup target list --installed | grep -qx x86_64-unknown-linux-musl \
  || rustup target add x86_64-unknown-linux-musl

# Lints: rustfmt, clippy on every target, then cargo-deny (deny.toml): licenses, banned and duplicate
# crates, sources, and RustSec advisories. The advisory database is cloned from GitHub; where
# that is unreachable the advisories part is skipped, said so, and left to the workflow.
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
CARGO_DENY_VERSION=0.20.2
cargo_deny="${XDG_CACHE_HOME:-$HOME/.cache}/dapr-pair/cargo-deny-$CARGO_DENY_VERSION"
if [ ! -x "$cargo_deny/bin/cargo-deny" ]; then
  echo "test.sh: building cargo-deny $CARGO_DENY_VERSION (first time only)" >&2
  cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION" --root "$cargo_deny"
fi
deny_checks=(bans licenses sources)
if "$cargo_deny/bin/cargo-deny" fetch db >/dev/null 2>&1; then
  deny_checks+=(advisories)
else
  echo "test.sh: cargo-deny advisories skipped: the RustSec database (GitHub) is unreachable" >&2
fi
"$cargo_deny/bin/cargo-deny" --locked check "${deny_checks[@]}"

# The end-to-end tests start the apps' binaries, so build them first; and the image, which one
# of them runs from its root filesystem. `cargo xtask image` builds it once per input (a release
# build for musl, ~3 min on 2 cores the first time), prints its tag and size, and fails if the
# image is over its size budget (20 MB).
cargo build --locked --workspace --bins
cargo xtask image
image_test=image::the_  # both tests of tests/image.rs (not the unit tests image::tests::…)
if [ "$(id -u)" = 0 ]; then
  cargo test --locked --workspace
else
  # The image's test needs root (a pid and a mount namespace, chroot): that one through sudo.
  cargo test --locked --workspace -- --skip "$image_test"
  e2e="$(cargo test --locked -p e2e --no-run --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)"
  sudo --preserve-env=DAPR_BIN_DIR,PATH "$e2e" "$image_test"
fi

# The deploy files: lints, az command lines, kustomize + kubernetes-validate, Dapr CRD
# schemas, every Dapr file loaded by the real daprd, Bicep.
cargo xtask validate-deploy
