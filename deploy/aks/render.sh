#!/usr/bin/env bash
# Renders the AKS manifests with this cluster's values, for `kubectl apply -f -`:
#
#   IMAGE=myregistry.azurecr.io/dapr-pair:1.0 HOST=pair.example.com AZURE_TENANT_ID=... \
#   LOGIN_CLIENT_ID=... BACKEND_IDENTITY_CLIENT_ID=... FRONTEND_IDENTITY_CLIENT_ID=... \
#   COSMOS_URL=https://ACCOUNT.documents.azure.com:443/ \
#     deploy/aks/render.sh | kubectl apply -f -
#
# `deploy/aks/render.sh OVERLAY_DIR` renders an overlay instead: one of deploy/aks/overlays/
# (ingress-nginx, oauth2-middleware, otel) or one of your own whose resources include deploy/aks/base.
# Every `${NAME}` in the manifests is one of the variables below; a missing one is an error.
# Secrets are not rendered: they are created in the cluster (see docs/aks.md).
# KUSTOMIZE overrides the renderer (default: `kubectl kustomize`).
set -euo pipefail

variables=(IMAGE HOST AZURE_TENANT_ID LOGIN_CLIENT_ID BACKEND_IDENTITY_CLIENT_ID FRONTEND_IDENTITY_CLIENT_ID COSMOS_URL)
missing=()
for name in "${variables[@]}"; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "render.sh: set ${missing[*]} (see docs/aks.md)" >&2
  exit 1
fi

read -r -a kustomize <<<"${KUSTOMIZE:-kubectl kustomize}"
manifests="$("${kustomize[@]}" "${1:-$(dirname "$0")}")"
for name in "${variables[@]}"; do
  manifests="${manifests//"\${$name}"/${!name}}"
done
if [[ "$manifests" =~ \$\{[A-Z_]+\} ]]; then
  echo "render.sh: ${BASH_REMATCH[0]} is not substituted: add it to the list in $0" >&2
  exit 1
fi
printf '%s\n' "$manifests"
