#!/usr/bin/env bash
# The backend's state in Azure, for Container Apps (deploy/aca/deploy.sh) and AKS (README):
#
#   eval "$(deploy/cosmos.sh --resource-group dapr-pair-rg --location westeurope)"
#
# 1. resource group (created if missing)
# 2. Cosmos DB account with keys disabled, database `dapr-pair`, container `state` with
#    partition key path /partitionKey (what Dapr's state.azure.cosmosdb writes); with
#    `--sessions`, also container `sessions` for the frontend's sign-in sessions
#    (AUTH_MODE=session: the AKS base, Container Apps' `--login session`; a container costs
#    throughput of its own, so only when asked): the same partition key path, and TTL on with
#    no default expiry (`--ttl -1`; turned on if an existing one has it off), so the
#    `ttlInSeconds` the app sets on each record is what removes it (Cosmos DB ignores a
#    record's ttl while the container's TTL is off)
# 3. a user-assigned managed identity for the backend with Cosmos DB's built-in Data
#    Contributor role (data plane only: it cannot manage or delete the account)
#
# Prints shell assignments for the caller: COSMOS_URL, BACKEND_IDENTITY_ID,
# BACKEND_IDENTITY_CLIENT_ID. Progress goes to stderr. Re-running it changes nothing: every
# resource is looked up by its exact name and made only if missing; other accounts in the group
# are never touched.
# Needs: az (logged in).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/cosmos.sh --resource-group NAME --location REGION [options]

  --resource-group, -g NAME  resource group (created if missing)
  --location, -l REGION      Azure region, e.g. westeurope
  --cosmos-account NAME      Cosmos DB account, globally unique (default: dapr-pair-<hash>,
                             the same name for the same subscription and group on every run)
  --identity NAME            the backend's managed identity (default: dapr-pair-backend)
  --sessions                 also the container `sessions` of the session sign-in
USAGE
}

resource_group="" location="" cosmos_account="" identity="dapr-pair-backend" sessions=""
while [ $# -gt 0 ]; do
  case "$1" in
    -g | --resource-group) resource_group="$2"; shift 2 ;;
    -l | --location) location="$2"; shift 2 ;;
    --cosmos-account) cosmos_account="$2"; shift 2 ;;
    --identity) identity="$2"; shift 2 ;;
    --sessions) sessions=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "cosmos.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$resource_group" ] || [ -z "$location" ]; then
  usage >&2
  exit 2
fi
step() { printf '\n==> %s\n' "$*" >&2; }
# 12 hex digits of the SHA-256 of stdin (GNU coreutils or macOS).
hash12() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -c1-12; }

step "Resource group $resource_group"
# Not `az group create` on a group that exists: that is a PUT, which would drop its tags.
if ! az group show --name "$resource_group" --output none 2>/dev/null; then
  az group create --name "$resource_group" --location "$location" --output none
fi
group_id="$(az group show --name "$resource_group" --query id --output tsv)"

# A globally unique name that is the same on every run for this group: the account of an
# earlier run is found by its exact name (never "the first account of the group").
cosmos_account="${cosmos_account:-dapr-pair-$(printf '%s' "$group_id" | tr '[:upper:]' '[:lower:]' | hash12)}"
step "Cosmos DB: account $cosmos_account, database dapr-pair, container state${sessions:+ and sessions} (/partitionKey)"
if ! az cosmosdb show --name "$cosmos_account" --resource-group "$resource_group" --output none 2>/dev/null; then
  # Keys off: only Entra identities with a data-plane role can read or write.
  az cosmosdb create --name "$cosmos_account" --resource-group "$resource_group" \
    --locations regionName="$location" --disable-local-auth true --output none
fi
if ! az cosmosdb sql database show --account-name "$cosmos_account" --resource-group "$resource_group" \
  --name dapr-pair --output none 2>/dev/null; then
  az cosmosdb sql database create --account-name "$cosmos_account" --resource-group "$resource_group" \
    --name dapr-pair --output none
fi
if ! az cosmosdb sql container show --account-name "$cosmos_account" --resource-group "$resource_group" \
  --database-name dapr-pair --name state --output none 2>/dev/null; then
  az cosmosdb sql container create --account-name "$cosmos_account" --resource-group "$resource_group" \
    --database-name dapr-pair --name state --partition-key-path /partitionKey --output none
fi
if [ -n "$sessions" ]; then
  sessions_ttl="$(az cosmosdb sql container show --account-name "$cosmos_account" --resource-group "$resource_group" \
    --database-name dapr-pair --name sessions --query resource.defaultTtl --output tsv 2>/dev/null)" || sessions_ttl=missing
  if [ "$sessions_ttl" = missing ]; then
    az cosmosdb sql container create --account-name "$cosmos_account" --resource-group "$resource_group" \
      --database-name dapr-pair --name sessions --partition-key-path /partitionKey --ttl -1 --output none
  elif [ -z "$sessions_ttl" ]; then
    az cosmosdb sql container update --account-name "$cosmos_account" --resource-group "$resource_group" \
      --database-name dapr-pair --name sessions --ttl -1 --output none
  fi
fi
cosmos_url="$(az cosmosdb show --name "$cosmos_account" --resource-group "$resource_group" \
  --query documentEndpoint --output tsv)"

step "Managed identity $identity with Cosmos DB Built-in Data Contributor"
if ! az identity show --name "$identity" --resource-group "$resource_group" --output none 2>/dev/null; then
  az identity create --name "$identity" --resource-group "$resource_group" --location "$location" --output none
fi
identity_id="$(az identity show --name "$identity" --resource-group "$resource_group" --query id --output tsv)"
identity_client_id="$(az identity show --name "$identity" --resource-group "$resource_group" --query clientId --output tsv)"
identity_principal_id="$(az identity show --name "$identity" --resource-group "$resource_group" --query principalId --output tsv)"
data_contributor=00000000-0000-0000-0000-000000000002
if [ -z "$(az cosmosdb sql role assignment list --account-name "$cosmos_account" --resource-group "$resource_group" \
  --query "[?principalId=='$identity_principal_id' && ends_with(roleDefinitionId, '$data_contributor')].id" --output tsv)" ]; then
  az cosmosdb sql role assignment create --account-name "$cosmos_account" --resource-group "$resource_group" \
    --role-definition-id "$data_contributor" --principal-id "$identity_principal_id" --scope "/" --output none
fi

printf 'COSMOS_URL=%q\nBACKEND_IDENTITY_ID=%q\nBACKEND_IDENTITY_CLIENT_ID=%q\n' \
  "$cosmos_url" "$identity_id" "$identity_client_id"
