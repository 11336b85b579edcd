#!/usr/bin/env bash
# Creates or updates the Microsoft Entra app registration people sign in with, and prints its
# client (application) id. Used by deploy/aca/deploy.sh and by the AKS steps in the README:
#
#   deploy/login-app.sh --name dapr-pair-login --redirect-uri https://HOST/CALLBACK [--redirect-uri URI ...]
#
# The registration gets:
# - the redirect URIs given (replacing earlier ones), so the sign-in can come back to the app;
# - an API scope `api://<client id>/user_impersonation` and v2 access tokens, whose audience
#   is the client id and whose issuer is https://login.microsoftonline.com/<tenant>/v2.0,
#   which is what the deploy files check;
# - the Azure CLI as a pre-authorised client of that scope, so
#   `az account get-access-token --scope api://<client id>/user_impersonation` gives curl a
#   token without a consent prompt.
# It makes no client secret: the caller adds one (`az ad app credential reset --append`, which
# keeps the others) and hands it straight to where it is used.
# The registration is found by its exact display name (`az ad app list --display-name` matches
# by prefix and would take another app); two registrations with that name are an error.
# Needs: az (logged in), permission to create app registrations in the tenant.
set -euo pipefail

name="" redirect_uris=()
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --redirect-uri) redirect_uris+=("$2"); shift 2 ;;
    *) echo "usage: deploy/login-app.sh --name NAME --redirect-uri URI" >&2; exit 2 ;;
  esac
done
if [ -z "$name" ] || [ "${#redirect_uris[@]}" -eq 0 ]; then
  echo "usage: deploy/login-app.sh --name NAME --redirect-uri URI" >&2
  exit 2
fi

# OData quotes a ' inside a string as ''.
client_id="$(az ad app list --filter "displayName eq '${name//\'/\'\'}'" --query "[].appId" --output tsv)"
if [ "$(printf '%s' "$client_id" | grep -c .)" -gt 1 ]; then
  echo "login-app.sh: several app registrations are named $name; pick another --name" >&2
  exit 1
fi
if [ -z "$client_id" ]; then
  client_id="$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg \
    --enable-id-token-issuance true --query appId --output tsv)"
fi
az ad app update --id "$client_id" --identifier-uris "api://$client_id" \
  --web-redirect-uris "${redirect_uris[@]}"

# The scope keeps its id across runs (Entra refuses to change a scope's id in place).
scope_id="$(az ad app show --id "$client_id" --query "api.oauth2PermissionScopes[0].id" --output tsv)"
scope_id="${scope_id:-$(cat /proc/sys/kernel/random/uuid)}"
azure_cli=04b07795-8ddb-461a-bbee-02f9e1bf7b46
# Two requests: Entra pre-authorises only a scope that already exists.
patch() {
  az rest --method PATCH --uri "https://graph.microsoft.com/v1.0/applications(appId='$client_id')" \
    --headers Content-Type=application/json --body "$1" --output none
}
patch "{\"api\": {\"requestedAccessTokenVersion\": 2, \"oauth2PermissionScopes\": [{
  \"id\": \"$scope_id\", \"value\": \"user_impersonation\", \"type\": \"User\", \"isEnabled\": true,
  \"adminConsentDisplayName\": \"Use dapr-pair\", \"adminConsentDescription\": \"Call dapr-pair as the signed-in user\",
  \"userConsentDisplayName\": \"Use dapr-pair\", \"userConsentDescription\": \"Call dapr-pair as you\"}]}}"
patch "{\"api\": {\"preAuthorizedApplications\": [
  {\"appId\": \"$azure_cli\", \"delegatedPermissionIds\": [\"$scope_id\"]}]}}"
# A service principal in this tenant, so users can sign in to it.
az ad sp show --id "$client_id" --output none 2>/dev/null || az ad sp create --id "$client_id" --output none

printf '%s\n' "$client_id"
