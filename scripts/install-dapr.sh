#!/usr/bin/env bash
# Prints the folder that holds `daprd` and `sentry` of the pinned Dapr version, building them
# first if needed.
#
# No package registry ships Dapr's binaries, so they are built from the Go module proxy:
# download the github.com/dapr/dapr module, copy it somewhere writable (the module cache is
# read-only) and build there, so Dapr's own go.mod and go.sum pin every dependency.
# Sentry is built too because Dapr's access control only knows who is calling when the
# sidecars talk mTLS, and in self-hosted mode Sentry is the CA that makes that possible.
#
# The result is cached per version. A folder on PATH or ~/.dapr/bin that already holds both
# binaries at that version is used instead.
set -euo pipefail

# shellcheck source=../dapr.version
. "$(dirname "$0")/../dapr.version"
cache_dir="${DAPR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dapr-pair/dapr}/$DAPR_VERSION"

has_pinned_dapr() {
  [ -x "$1/daprd" ] && [ -x "$1/sentry" ] \
    && [ "$("$1/daprd" --version 2>/dev/null | head -n 1 | tr -d '[:space:]')" = "$DAPR_VERSION" ]
}

on_path="$(command -v daprd || true)"
for dir in "${on_path%/daprd}" "$HOME/.dapr/bin" "$cache_dir"; do
  if [ -n "$dir" ] && has_pinned_dapr "$dir"; then
    echo "$dir"
    exit 0
  fi
done

command -v go >/dev/null || { echo "install-dapr: Go is needed to build Dapr $DAPR_VERSION" >&2; exit 1; }

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

echo "install-dapr: building daprd and sentry $DAPR_VERSION from the Go module proxy (first time only; takes a while)" >&2
# The checksum database is not reachable from every build machine, so it is skipped for this
# one module and the pinned hash from dapr.version is checked instead.
download="$(cd "$work" && GONOSUMDB=github.com/dapr/dapr go mod download -json "github.com/dapr/dapr@v$DAPR_VERSION")" || {
  echo "install-dapr: could not download github.com/dapr/dapr@v$DAPR_VERSION:" >&2
  echo "$download" >&2
  exit 1
}
field() { printf '%s\n' "$download" | sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"; }
if [ "$(field Sum)" != "$DAPR_MODULE_SUM" ]; then
  echo "install-dapr: github.com/dapr/dapr@v$DAPR_VERSION has hash '$(field Sum)', expected '$DAPR_MODULE_SUM'" >&2
  exit 1
fi

cp -r "$(field Dir)" "$work/dapr"
chmod -R u+w "$work/dapr"
# Same flags as Dapr's Makefile: static binaries, every component compiled in (alpha ones such
# as middleware.http.oauth2 included), and the version stamped so `daprd --version` reports it.
ldflags="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION -X github.com/dapr/kit/logger.DaprVersion=$DAPR_VERSION"
# Built with the Go release Dapr's go.mod names (fetched through the module proxy like any
# module): newer Go assemblers reject assembly in one of Dapr 1.16's dependencies.
go_release="go$(sed -n 's/^go //p' "$work/dapr/go.mod")"
(cd "$work/dapr" && GOTOOLCHAIN="$go_release" CGO_ENABLED=0 go build -trimpath -tags allcomponents -ldflags "$ldflags" \
  -o "$work/bin/" ./cmd/daprd ./cmd/sentry >&2)
mkdir -p "$cache_dir"
mv "$work/bin/daprd" "$work/bin/sentry" "$cache_dir/"
echo "$cache_dir"
