#!/usr/bin/env bash
# Deploys the pair to Azure Container Apps from this repository's source, end to end:
#
#   deploy/aca/deploy.sh --resource-group dapr-pair-rg --location westeurope
#
# 1. resource group, Cosmos DB account (keys disabled), database `dapr-pair`, container `state`
#    (/partitionKey), and a user-assigned identity for the backend with Cosmos DB's Data
#    Contributor role: deploy/cosmos.sh
# 2. a Log Analytics workspace and the Container Apps environment (workload profiles) that
#    sends its logs there
# 3. the environment's Dapr state store component (deploy/aca/statestore.yaml), scoped to backend
# 4. an Azure Container Registry with its admin user off, and an identity that may only pull
#    from it (AcrPull): both apps pull their image with it, and no app keeps a registry password
# 5. backend: `az containerapp up` builds the image from the Dockerfile, internal ingress,
#    identity, Dapr
# 6. frontend: the same image, internal ingress for now, Dapr
# 7. probes, resources, replica counts (two at least) and the shutdown settings for both
# 8. an Entra app registration (deploy/login-app.sh) and Container Apps' built-in auth in
#    front of the frontend; only then the frontend's ingress turns external
#
# With --login session the frontend signs browsers in itself instead (AUTH_MODE=session, no
# built-in auth): also a Cosmos DB container `sessions` (TTL on), the frontend's own identity
# with the data role on that container only, the environment's Dapr component `sessionstore`
# (deploy/aca/sessionstore.yaml) with its encryption key, and the sign-in app's client secret as
# a secret of the frontend app.
#
# Then it prints the frontend's URL and the curl to run. Re-running it updates in place: every
# resource is found by its exact name, made only if missing, and nothing else is touched.
# Needs: az (logged in: `az login`), permission to create app registrations in the tenant, and
# Owner (or Contributor plus Role Based Access Control Administrator) on the resource group:
# the script grants the pull identity AcrPull.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/aca/deploy.sh --resource-group NAME --location REGION [options]

  --resource-group, -g NAME  resource group (created if missing)
  --location, -l REGION      Azure region, e.g. westeurope
  --environment NAME         Container Apps environment (default: dapr-pair-env)
  --cosmos-account NAME      Cosmos DB account, globally unique (default: dapr-pair-<hash>)
  --identity NAME            the backend's managed identity (default: dapr-pair-backend)
  --registry NAME            container registry, globally unique (default: daprpair<hash>)
  --pull-identity NAME       the identity both apps pull with (default: dapr-pair-pull)
  --app-registration NAME    Entra app registration for login (default: dapr-pair-<group>)
  --login builtin|session    who signs browsers in (default: builtin): Container Apps'
                             built-in auth, or the frontend itself (AUTH_MODE=session,
                             sessions in Cosmos DB through Dapr)
  --frontend-identity NAME   with --login session: the frontend's managed identity, which
                             reads and writes the sessions (default: dapr-pair-frontend)
  --image IMAGE              deploy this image instead of building one with ACR Tasks (which
                             free-trial subscriptions refuse): one in the registry above, or
                             a public one
USAGE
}

resource_group="" location="" environment="dapr-pair-env" cosmos_account=""
identity="dapr-pair-backend" registry="" pull_identity="dapr-pair-pull" app_registration="" image=""
login=builtin frontend_identity="dapr-pair-frontend"
while [ $# -gt 0 ]; do
  case "$1" in
    -g | --resource-group) resource_group="$2"; shift 2 ;;
    -l | --location) location="$2"; shift 2 ;;
    --environment) environment="$2"; shift 2 ;;
    --cosmos-account) cosmos_account="$2"; shift 2 ;;
    --identity) identity="$2"; shift 2 ;;
    --registry) registry="$2"; shift 2 ;;
    --pull-identity) pull_identity="$2"; shift 2 ;;
    --app-registration) app_registration="$2"; shift 2 ;;
    --image) image="$2"; shift 2 ;;
    --login) login="$2"; shift 2 ;;
    --frontend-identity) frontend_identity="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$resource_group" ] || [ -z "$location" ]; then
  usage >&2
  exit 2
fi
case "$login" in
  builtin | session) ;;
  *) echo "deploy.sh: --login is builtin or session, not $login" >&2; exit 2 ;;
esac
app_registration="${app_registration:-dapr-pair-$resource_group}"

# Each app's settings (see README, "Settings"). External ingress reaches the frontend directly,
# not through its sidecar, so it cannot demand the sidecar's APP_API_TOKEN
# (REQUIRE_APP_API_TOKEN=false): built-in auth guards it instead, and the app reads the
# signed-in user from the X-MS-CLIENT-PRINCIPAL headers (AUTH_MODE=easyauth). With --login
# session the app guards every route itself (a session for browsers, a bearer JWT on /call);
# its OIDC settings are added once the sign-in app exists.
# SHUTDOWN_DELAY, SHUTDOWN_TIMEOUT: on SIGTERM the app answers /readyz 503 but keeps serving
# while ingress and the callers' sidecars stop sending to it, then drains (docs/rollouts.md);
# the grace period below covers both.
shutdown_env=(SHUTDOWN_DELAY=5s SHUTDOWN_TIMEOUT=10s)
backend_env=(SERVICE=backend LOG_FORMAT=json "${shutdown_env[@]}")
frontend_env=(SERVICE=frontend REQUIRE_APP_API_TOKEN=false LOG_FORMAT=json "${shutdown_env[@]}")
if [ "$login" = session ]; then frontend_env+=(AUTH_MODE=session); else frontend_env+=(AUTH_MODE=easyauth); fi

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
admin_on=""
# Also when the script stops half-way: the registry's admin user goes off again (admin_off).
trap 'admin_off; rm -rf "$work"' EXIT
step() { printf '\n==> %s\n' "$*" >&2; }
hash12() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -c1-12; }
app_exists() { az containerapp show --name "$1" --resource-group "$resource_group" --output none 2>/dev/null; }

# Cosmos DB, its database and container, and the backend's identity with its data role.
cosmos_args=(--resource-group "$resource_group" --location "$location" --identity "$identity")
[ -z "$cosmos_account" ] || cosmos_args+=(--cosmos-account "$cosmos_account")
[ "$login" != session ] || cosmos_args+=(--sessions)
cosmos_env="$("$here/../cosmos.sh" "${cosmos_args[@]}")"
eval "$cosmos_env"  # COSMOS_URL, BACKEND_IDENTITY_ID, BACKEND_IDENTITY_CLIENT_ID
group_id="$(az group show --name "$resource_group" --query id --output tsv)"

step "Container Apps environment $environment (workload profiles), logs to workspace dapr-pair-logs"
if ! az containerapp env show --name "$environment" --resource-group "$resource_group" --output none 2>/dev/null; then
  # A workspace of its own name: without one, `env create` makes a new workspace on every call.
  if ! az monitor log-analytics workspace show --resource-group "$resource_group" \
    --workspace-name dapr-pair-logs --output none 2>/dev/null; then
    az monitor log-analytics workspace create --resource-group "$resource_group" \
      --workspace-name dapr-pair-logs --location "$location" --output none
  fi
  logs_id="$(az monitor log-analytics workspace show --resource-group "$resource_group" \
    --workspace-name dapr-pair-logs --query customerId --output tsv)"
  logs_key="$(az monitor log-analytics workspace get-shared-keys --resource-group "$resource_group" \
    --workspace-name dapr-pair-logs --query primarySharedKey --output tsv)"
  az containerapp env create --name "$environment" --resource-group "$resource_group" \
    --location "$location" --enable-workload-profiles true \
    --logs-workspace-id "$logs_id" --logs-workspace-key "$logs_key" --output none
  unset logs_key
fi

# An environment Dapr component from deploy/aca/NAME.yaml, each ${VAR} in it replaced by that
# shell variable's value (set -u stops the script at one that is not set).
set_component() {
  local component placeholder
  component="$(<"$here/$1.yaml")"
  while read -r placeholder; do
    placeholder="${placeholder:2:-1}"
    component="${component//"\${$placeholder}"/${!placeholder}}"
  done < <(grep -o '[$]{[A-Z_]*}' "$here/$1.yaml" | sort -u)
  (umask 077 && printf '%s\n' "$component" >"$work/$1.yaml")
  az containerapp env dapr-component set --name "$environment" --resource-group "$resource_group" \
    --dapr-component-name "$1" --yaml "$work/$1.yaml" --output none
  rm -f "$work/$1.yaml"
}

step "Dapr component statestore (Cosmos DB, managed identity, scoped to backend)"
set_component statestore

if [ "$login" = session ]; then
  # The account cosmos.sh made or found, by the name in its endpoint.
  cosmos_name="${COSMOS_URL#https://}"
  cosmos_name="${cosmos_name%%.*}"
  step "Sessions: identity $frontend_identity with Data Contributor on the container sessions only"
  if ! az identity show --name "$frontend_identity" --resource-group "$resource_group" --output none 2>/dev/null; then
    az identity create --name "$frontend_identity" --resource-group "$resource_group" --location "$location" --output none
  fi
  frontend_ids="$(az identity show --name "$frontend_identity" --resource-group "$resource_group" \
    --query "join(' ', [id, clientId, principalId])" --output tsv)"
  # shellcheck disable=SC2034  # FRONTEND_IDENTITY_CLIENT_ID: sessionstore.yaml's, for set_component
  read -r FRONTEND_IDENTITY_ID FRONTEND_IDENTITY_CLIENT_ID frontend_principal_id <<<"$frontend_ids"
  # Scoped to the sessions container: the frontend's identity can neither read nor write the
  # backend's state.
  sessions_scope=/dbs/dapr-pair/colls/sessions
  if [ -z "$(az cosmosdb sql role assignment list --account-name "$cosmos_name" --resource-group "$resource_group" \
    --query "[?principalId=='$frontend_principal_id' && ends_with(scope, '$sessions_scope')].id" --output tsv)" ]; then
    az cosmosdb sql role assignment create --account-name "$cosmos_name" --resource-group "$resource_group" \
      --role-definition-id 00000000-0000-0000-0000-000000000002 --principal-id "$frontend_principal_id" \
      --scope "$sessions_scope" --output none
  fi

  step "Dapr component sessionstore (Cosmos DB container sessions, encrypted, scoped to frontend)"
  # The encryption key is made once and kept: a new key would make every session unreadable.
  # It lives only in the component's secret, read back from there on a re-run (ARM's
  # listSecrets: az has no command for it); a component that exists but whose key cannot be
  # read stops the script rather than sign everybody out.
  environment_id="$(az containerapp env show --name "$environment" --resource-group "$resource_group" --query id --output tsv)"
  if az containerapp env dapr-component show --name "$environment" --resource-group "$resource_group" \
    --dapr-component-name sessionstore --output none 2>/dev/null; then
    SESSION_ENCRYPTION_KEY="$(az rest --method post \
      --uri "$environment_id/daprComponents/sessionstore/listSecrets?api-version=2025-07-01" \
      --query "value[?name=='session-encryption-key'].value | [0]" --output tsv)"
    if [ -z "$SESSION_ENCRYPTION_KEY" ]; then
      echo "deploy.sh: the Dapr component sessionstore has no secret session-encryption-key; a new key" \
        "would make its sessions unreadable: remove the component to start afresh" >&2
      exit 1
    fi
  else
    SESSION_ENCRYPTION_KEY="$(openssl rand -hex 32)"
  fi
  set_component sessionstore
  # The app derives its sign-in attempt cookie's key and the keyed hash sessions are stored
  # under from the same key: it becomes the app's secret below, then leaves the shell.
  session_encryption_key="$SESSION_ENCRYPTION_KEY"
  unset SESSION_ENCRYPTION_KEY
fi

registry="${registry:-daprpair$(printf '%s' "$group_id" | tr '[:upper:]' '[:lower:]' | hash12)}"
step "Registry $registry (admin user off) and identity $pull_identity that may pull from it"
if ! az acr show --name "$registry" --resource-group "$resource_group" --output none 2>/dev/null; then
  az acr create --name "$registry" --resource-group "$resource_group" --location "$location" \
    --sku Basic --admin-enabled false --output none
fi
registry_id="$(az acr show --name "$registry" --resource-group "$resource_group" --query id --output tsv)"
registry_server="$(az acr show --name "$registry" --resource-group "$resource_group" --query loginServer --output tsv)"
if ! az identity show --name "$pull_identity" --resource-group "$resource_group" --output none 2>/dev/null; then
  az identity create --name "$pull_identity" --resource-group "$resource_group" --location "$location" --output none
fi
pull_identity_id="$(az identity show --name "$pull_identity" --resource-group "$resource_group" --query id --output tsv)"
pull_principal_id="$(az identity show --name "$pull_identity" --resource-group "$resource_group" --query principalId --output tsv)"
if [ -z "$(az role assignment list --assignee-object-id "$pull_principal_id" --scope "$registry_id" \
  --role AcrPull --query "[].id" --output tsv)" ]; then
  az role assignment create --assignee-object-id "$pull_principal_id" --assignee-principal-type ServicePrincipal \
    --role AcrPull --scope "$registry_id" --output none
fi

# The app pulls from the registry as the pull identity; the registry password `up` stored, if
# any, is removed.
pull_with_identity() {
  local secret
  secret="$(az containerapp show --name "$1" --resource-group "$resource_group" \
    --query "properties.configuration.registries[?server=='$registry_server'].passwordSecretRef | [0]" --output tsv)"
  az containerapp registry set --name "$1" --resource-group "$resource_group" --server "$registry_server" \
    --identity "$pull_identity_id" --output none
  if [ -n "$secret" ]; then
    az containerapp secret remove --name "$1" --resource-group "$resource_group" --secret-names "$secret" --output none
  fi
}
# Both admin passwords renewed (the one `up` read is dead even if the admin user comes back),
# then the admin user off.
admin_off() {
  [ -n "$admin_on" ] || return 0
  admin_on=""
  az acr credential renew --name "$registry" --password-name password --output none
  az acr credential renew --name "$registry" --password-name password2 --output none
  az acr update --name "$registry" --admin-enabled false --output none
}
# An app from an image that is already built (the frontend always; the backend with --image),
# created with internal ingress, pulling as the pull identity from the registry. An app that
# exists pulls as that identity from now on; its image is set with the probes below.
app_from_image() {
  local app="$1"
  shift
  if app_exists "$app"; then
    [[ "$image" != "$registry_server/"* ]] || pull_with_identity "$app"
  elif [[ "$image" == "$registry_server/"* ]]; then
    az containerapp create --name "$app" --resource-group "$resource_group" --environment "$environment" \
      --image "$image" --registry-server "$registry_server" --registry-identity "$pull_identity_id" \
      --ingress internal --target-port 8080 --env-vars "$@" --output none
  else  # a public image
    az containerapp create --name "$app" --resource-group "$resource_group" --environment "$environment" \
      --image "$image" --ingress internal --target-port 8080 --env-vars "$@" --output none
  fi
}

if [ -z "$image" ]; then
  step "backend: az containerapp up builds the image from the Dockerfile in $registry (internal ingress)"
  # `up --source` (azure-cli 2.91) reads the registry's admin password and keeps it as a secret
  # of the app (_get_registry_details → _get_acr_cred): it has no identity option. So the admin
  # user is on for this step only; right after it the app pulls as the pull identity, the secret
  # goes, both passwords are renewed and the admin user is off again.
  admin_on=1
  az acr update --name "$registry" --admin-enabled true --output none
  if app_exists backend; then
    # `up` updates an existing registry entry in place and leaves its identity set: put the
    # entry on the password first, so that it is never both.
    az containerapp registry set --name backend --resource-group "$resource_group" \
      --server "$registry_server" --output none
  fi
  az containerapp up --name backend --resource-group "$resource_group" --environment "$environment" \
    --location "$location" --source "$repo" --registry-server "$registry_server" \
    --ingress internal --target-port 8080 --env-vars "${backend_env[@]}"
  pull_with_identity backend
  admin_off
  image="$(az containerapp show --name backend --resource-group "$resource_group" \
    --query "properties.template.containers[0].image" --output tsv)"
else
  step "backend: image $image (internal ingress)"
  app_from_image backend "${backend_env[@]}"
fi
az containerapp identity assign --name backend --resource-group "$resource_group" \
  --user-assigned "$BACKEND_IDENTITY_ID" --output none
# `up` has no Dapr options: enable the sidecar afterwards.
az containerapp dapr enable --name backend --resource-group "$resource_group" \
  --dapr-app-id backend --dapr-app-port 8080 --dapr-app-protocol http --output none

step "frontend: the same image, internal ingress until its login is on"
# With --login session a new frontend's first revision lacks its OIDC settings and refuses to
# start until the update below gives them: the safe way round, and nothing reaches it meanwhile.
app_from_image frontend "${frontend_env[@]}"
if [ "$login" = session ]; then
  # Its sidecar signs in to Cosmos DB as this identity (sessionstore's azureClientId).
  az containerapp identity assign --name frontend --resource-group "$resource_group" \
    --user-assigned "$FRONTEND_IDENTITY_ID" --output none
fi
# The app reaches the session store over the sidecar's gRPC port (DAPR_GRPC_PORT, 50001, which
# Container Apps also sets); the app protocol is how the sidecar calls the app: HTTP either way.
az containerapp dapr enable --name frontend --resource-group "$resource_group" \
  --dapr-app-id frontend --dapr-app-port 8080 --dapr-app-protocol http --output none

# The frontend's address once its ingress is external: <app>.<the environment's default domain>.
domain="$(az containerapp env show --name "$environment" --resource-group "$resource_group" \
  --query properties.defaultDomain --output tsv)"
fqdn="frontend.$domain"
tenant_id="$(az account show --query tenantId --output tsv)"
issuer="https://login.microsoftonline.com/$tenant_id/v2.0"
# The sign-in app registration, coming back to https://$1 (prints its client id): built-in
# auth's callback, or the app's own and its / (where Entra sends a browser after signing out).
register_login() {
  if [ "$login" = session ]; then
    "$here/../login-app.sh" --name "$app_registration" --redirect-uri "https://$1/auth/callback" \
      --redirect-uri "https://$1/"
  else
    "$here/../login-app.sh" --name "$app_registration" --redirect-uri "https://$1/.auth/login/aad/callback"
  fi
}

step "Login ($login): Entra app registration $app_registration"
client_id="$(register_login "$fqdn")"
# A new client secret each run, added next to the others (--append: a reset without it deletes
# every other credential of the registration); it goes straight into the container app's
# secrets. The ones this script made before, in either mode, are deleted once the new one is
# in place.
earlier_secrets="$(az ad app credential list --id "$client_id" \
  --query "[?displayName=='easy-auth' || displayName=='session-login'].keyId" --output tsv)"
if [ "$login" = session ]; then
  client_secret="$(az ad app credential reset --id "$client_id" --append --display-name session-login \
    --years 1 --query password --output tsv)"
  az containerapp secret set --name frontend --resource-group "$resource_group" \
    --secrets "oidc-client-secret=$client_secret" "session-encryption-key=$session_encryption_key" --output none
  unset client_secret session_encryption_key
  # API clients' bearer JWTs (v2 tokens: the audience is the client id) and browsers' id_tokens
  # come from the tenant's v2 issuer. The app's own scope makes the tokens a session holds good
  # for this app only. OIDC_CLIENT_SECRET_ROTATION is not read by the app: a new random value with
  # each new secret, so the update below starts a revision, which reads the new secret (a
  # running revision keeps the secrets it started with, and the old one is deleted below).
  frontend_env+=("OIDC_ISSUER=$issuer" "OIDC_AUDIENCE=$client_id" "OIDC_CLIENT_ID=$client_id"
    "OIDC_REDIRECT_URL=https://$fqdn/auth/callback"
    "OIDC_SCOPES=openid profile offline_access api://$client_id/user_impersonation"
    OIDC_CLIENT_SECRET=secretref:oidc-client-secret "OIDC_CLIENT_SECRET_ROTATION=$(openssl rand -hex 8)"
    SESSION_ENCRYPTION_KEY=secretref:session-encryption-key)
else
  client_secret="$(az ad app credential reset --id "$client_id" --append --display-name easy-auth --years 1 \
    --query password --output tsv)"
  az containerapp auth microsoft update --name frontend --resource-group "$resource_group" \
    --client-id "$client_id" --client-secret "$client_secret" --tenant-id "$tenant_id" \
    --issuer "$issuer" --allowed-audiences "$client_id,api://$client_id" --yes --output none
  unset client_secret
  # Browsers without a session are sent to the Microsoft login page; the probes' paths stay open.
  az containerapp auth update --name frontend --resource-group "$resource_group" --enabled true \
    --unauthenticated-client-action RedirectToLoginPage --redirect-provider azureactivedirectory \
    --excluded-paths "/healthz,/readyz" --require-https true --output none
fi

step "Probes, replicas and shutdown"
# Two replicas stay up (no cold start on the first call, and a new revision or the platform's
# maintenance never stops the only one); /readyz is ready only while the Dapr sidecar answers, so
# traffic waits for it. The grace period covers SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT and a margin.
# Dapr's app health check asks /healthz, which the app answers while it drains (never /readyz:
# the sidecar would refuse every call to a draining app at once); how long the sidecar outlives
# the app is Container Apps' to decide (docs/container-apps.md, "Rollouts").
# NAME=secretref:SECRET is read from the app's secret.
yaml_env() {
  local setting
  for setting in "$@"; do
    if [[ "${setting#*=}" == secretref:* ]]; then
      printf '          - name: %s\n            secretRef: %s\n' "${setting%%=*}" "${setting#*=secretref:}"
    else
      printf '          - name: %s\n            value: "%s"\n' "${setting%%=*}" "${setting#*=}"
    fi
  done
}
for app in backend frontend; do
  env_name="${app}_env[@]"
  cat >"$work/$app.yaml" <<YAML
properties:
  configuration:
    dapr:
      appHealth:
        enabled: true
        path: /healthz
        probeIntervalSeconds: 1
        probeTimeoutMilliseconds: 500
        threshold: 3
  template:
    terminationGracePeriodSeconds: 30
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
      minReplicas: 2
      maxReplicas: 3
YAML
  az containerapp update --name "$app" --resource-group "$resource_group" --yaml "$work/$app.yaml" --output none
done
if [ "$login" = session ]; then
  # No built-in auth in front of the app (it would send every browser to its own sign-in), and
  # only now: on a switch from built-in auth the ingress is external already, and the app has
  # guarded itself only since the update above (AUTH_MODE=easyauth trusts anyone's headers).
  az containerapp auth update --name frontend --resource-group "$resource_group" --enabled false --output none
fi
for key_id in $earlier_secrets; do
  az ad app credential delete --id "$client_id" --key-id "$key_id" --output none
done

step "frontend: external ingress, now that its login guards it"
az containerapp ingress update --name frontend --resource-group "$resource_group" --type external --output none
external_fqdn="$(az containerapp show --name frontend --resource-group "$resource_group" \
  --query properties.configuration.ingress.fqdn --output tsv)"
if [ "$external_fqdn" != "$fqdn" ]; then  # not the address the sign-in comes back to: fix that
  fqdn="$external_fqdn"
  register_login "$fqdn" >/dev/null
  if [ "$login" = session ]; then
    az containerapp update --name frontend --resource-group "$resource_group" \
      --set-env-vars "OIDC_REDIRECT_URL=https://$fqdn/auth/callback" --output none
  fi
fi

cat <<DONE

Deployed. Frontend: https://$fqdn

Browser: open https://$fqdn/ and sign in with your Microsoft Entra account ($login login).

curl (a token for the app, from your az login):
  TOKEN="\$(az account get-access-token --scope api://$client_id/user_impersonation --query accessToken --output tsv)"
  curl -H "Authorization: Bearer \$TOKEN" -X POST https://$fqdn/call \\
    -d '{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{\"key\":\"mykey\",\"data\":\"123\"}"}'
  curl -H "Authorization: Bearer \$TOKEN" -X POST https://$fqdn/call \\
    -d '{"appId":"backend","method":"state/mykey","httpMethod":"GET"}'

Logs: az containerapp logs show --name frontend --resource-group $resource_group --follow
DONE
