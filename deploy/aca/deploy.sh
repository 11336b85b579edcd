#!/usr/bin/env bash
# Deploys the pair to Azure Container Apps from this repository's source, end to end:
#
#   deploy/aca/deploy.sh --resource-group dapr-pair-rg --location westeurope
#
# 1. resource group, Cosmos DB account (keys disabled), database `dapr-pair`, container `state`
#    (/partitionKey), and a user-assigned identity for the backend with Cosmos DB's Data
#    Contributor role: deploy/cosmos.sh
# 2. Container Apps environment
# 3. the environment's Dapr state store component (deploy/aca/statestore.yaml), scoped to backend
# 4. backend: `az containerapp up` from the Dockerfile, internal ingress, identity, Dapr
# 5. frontend: the same image, external ingress, Dapr
# 6. probes, resources and replica counts for both
# 7. an Entra app registration (deploy/login-app.sh) and Container Apps' built-in auth in
#    front of the frontend
#
# Then it prints the frontend's URL and the curl to run. Re-running it updates in place.
# Needs: az (logged in: `az login`), permission to create app registrations in the tenant.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/aca/deploy.sh --resource-group NAME --location REGION [options]

  --resource-group, -g NAME  resource group (created if missing)
  --location, -l REGION      Azure region, e.g. westeurope
  --environment NAME         Container Apps environment (default: dapr-pair-env)
  --cosmos-account NAME      Cosmos DB account, globally unique (default: dapr-pair-<random>)
  --identity NAME            the backend's managed identity (default: dapr-pair-backend)
  --app-registration NAME    Entra app registration for login (default: dapr-pair-<group>)
USAGE
}

resource_group="" location="" environment="dapr-pair-env" cosmos_account=""
identity="dapr-pair-backend" app_registration=""
while [ $# -gt 0 ]; do
  case "$1" in
    -g | --resource-group) resource_group="$2"; shift 2 ;;
    -l | --location) location="$2"; shift 2 ;;
    --environment) environment="$2"; shift 2 ;;
    --cosmos-account) cosmos_account="$2"; shift 2 ;;
    --identity) identity="$2"; shift 2 ;;
    --app-registration) app_registration="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$resource_group" ] || [ -z "$location" ]; then
  usage >&2
  exit 2
fi
app_registration="${app_registration:-dapr-pair-$resource_group}"

# Each app's settings (see README, "Settings"). External ingress reaches the frontend directly,
# not through its sidecar, so it cannot demand the sidecar's APP_API_TOKEN
# (REQUIRE_APP_API_TOKEN=false): built-in auth guards it instead, and the app reads the
# signed-in user from the X-MS-CLIENT-PRINCIPAL headers (AUTH_MODE=easyauth).
backend_env=(SERVICE=backend LOG_FORMAT=json)
frontend_env=(SERVICE=frontend REQUIRE_APP_API_TOKEN=false AUTH_MODE=easyauth LOG_FORMAT=json)

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n==> %s\n' "$*" >&2; }

# Cosmos DB, its database and container, and the backend's identity with its data role.
cosmos_args=(--resource-group "$resource_group" --location "$location" --identity "$identity")
[ -z "$cosmos_account" ] || cosmos_args+=(--cosmos-account "$cosmos_account")
cosmos_env="$("$here/../cosmos.sh" "${cosmos_args[@]}")"
eval "$cosmos_env"  # COSMOS_URL, BACKEND_IDENTITY_ID, BACKEND_IDENTITY_CLIENT_ID

step "Container Apps environment $environment"
az containerapp env create --name "$environment" --resource-group "$resource_group" \
  --location "$location" --output none

step "Dapr component statestore (Cosmos DB, managed identity, scoped to backend)"
component="$(<"$here/statestore.yaml")"
component="${component//"\${COSMOS_URL}"/$COSMOS_URL}"
component="${component//"\${BACKEND_IDENTITY_CLIENT_ID}"/$BACKEND_IDENTITY_CLIENT_ID}"
printf '%s\n' "$component" >"$work/statestore.yaml"
az containerapp env dapr-component set --name "$environment" --resource-group "$resource_group" \
  --dapr-component-name statestore --yaml "$work/statestore.yaml" --output none

step "backend: build the image from the Dockerfile and deploy it (internal ingress)"
# Internal ingress: reachable only inside the environment, and even there the app answers
# only requests carrying the APP_API_TOKEN that Container Apps gives its Dapr sidecar.
az containerapp up --name backend --resource-group "$resource_group" --environment "$environment" \
  --location "$location" --source "$repo" --ingress internal --target-port 8080 \
  --env-vars "${backend_env[@]}"
image="$(az containerapp show --name backend --resource-group "$resource_group" \
  --query "properties.template.containers[0].image" --output tsv)"
az containerapp identity assign --name backend --resource-group "$resource_group" \
  --user-assigned "$BACKEND_IDENTITY_ID" --output none
# `up` has no Dapr options: enable the sidecar afterwards.
az containerapp dapr enable --name backend --resource-group "$resource_group" \
  --dapr-app-id backend --dapr-app-port 8080 --dapr-app-protocol http --output none

step "frontend: the same image, external ingress"
az containerapp up --name frontend --resource-group "$resource_group" --environment "$environment" \
  --location "$location" --image "$image" --ingress external --target-port 8080 \
  --env-vars "${frontend_env[@]}"
az containerapp dapr enable --name frontend --resource-group "$resource_group" \
  --dapr-app-id frontend --dapr-app-port 8080 --dapr-app-protocol http --output none

step "Probes and replicas"
# One replica stays up (no cold start on the first call); /readyz is ready only while the
# Dapr sidecar answers, so traffic waits for it.
yaml_env() {
  local setting
  for setting in "$@"; do
    printf '          - name: %s\n            value: "%s"\n' "${setting%%=*}" "${setting#*=}"
  done
}
for app in backend frontend; do
  env_name="${app}_env[@]"
  cat >"$work/$app.yaml" <<YAML
properties:
  template:
    containers:
      - name: $app
        image: $image
        resources:
          cpu: 0.25
          memory: 0.5Gi
        env:
$(yaml_env "${!env_name}")
        probes:
          - type: Liveness
            httpGet:
              path: /healthz
              port: 8080
            periodSeconds: 10
          - type: Readiness
            httpGet:
              path: /readyz
              port: 8080
            periodSeconds: 5
    scale:
      minReplicas: 1
      maxReplicas: 3
YAML
  az containerapp update --name "$app" --resource-group "$resource_group" --yaml "$work/$app.yaml" --output none
done

fqdn="$(az containerapp show --name frontend --resource-group "$resource_group" \
  --query properties.configuration.ingress.fqdn --output tsv)"
tenant_id="$(az account show --query tenantId --output tsv)"

step "Login: Entra app registration $app_registration and built-in auth on the frontend"
client_id="$("$here/../login-app.sh" --name "$app_registration" \
  --redirect-uri "https://$fqdn/.auth/login/aad/callback")"
# A new client secret each run; it goes straight into the container app's secrets.
client_secret="$(az ad app credential reset --id "$client_id" --display-name easy-auth --years 1 \
  --query password --output tsv)"
az containerapp auth microsoft update --name frontend --resource-group "$resource_group" \
  --client-id "$client_id" --client-secret "$client_secret" --tenant-id "$tenant_id" \
  --issuer "https://login.microsoftonline.com/$tenant_id/v2.0" \
  --allowed-audiences "$client_id" "api://$client_id" --yes --output none
unset client_secret
# Browsers without a session are sent to the Microsoft login page; the probes' paths stay open.
az containerapp auth update --name frontend --resource-group "$resource_group" --enabled true \
  --unauthenticated-client-action RedirectToLoginPage --redirect-provider azureactivedirectory \
  --excluded-paths /healthz /readyz --require-https true --output none

cat <<DONE

Deployed. Frontend: https://$fqdn

Browser: open https://$fqdn/ and sign in with your Microsoft Entra account.

curl (a token for the app, from your az login):
  TOKEN="\$(az account get-access-token --scope api://$client_id/user_impersonation --query accessToken --output tsv)"
  curl -H "Authorization: Bearer \$TOKEN" -X POST https://$fqdn/call \\
    -d '{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{\"key\":\"mykey\",\"data\":\"123\"}"}'
  curl -H "Authorization: Bearer \$TOKEN" -X POST https://$fqdn/call \\
    -d '{"appId":"backend","method":"state/mykey","httpMethod":"GET"}'

Logs: az containerapp logs show --name frontend --resource-group $resource_group --follow
DONE
