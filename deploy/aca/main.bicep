// The Container Apps deployment of deploy.sh as infrastructure as code, for an image already
// in the registry of base.bicep (`az acr build`, or imported from what CI pushes), in three
// steps (docs/container-apps.md, "The same with Bicep"):
//   az deployment group create --resource-group RG --template-file deploy/aca/base.bicep
//   az acr build --registry REGISTRY --image dapr-pair:1.0.0 .
//   az deployment group create --resource-group RG --template-file deploy/aca/main.bicep \
//     --parameters deploy/aca/main.parameters.json
// base.bicep makes everything the apps use with an identity, and grants the roles, before this
// deployment makes the apps: the registry and the pull identity (AcrPull), Cosmos DB and the
// backend's identity (data role), the Key Vault and the frontend's identity (Secrets User).
// The sign-in app's client secret is in that vault (secret loginSecretName): the frontend
// reads it through a Key Vault reference, it is never a parameter or in a file.
// login=session (deploy both files with it): no built-in auth, the frontend signs browsers in
// itself (AUTH_MODE=session), its sessions in the Dapr component sessionstore (Cosmos DB
// container sessions, encrypted with the key in the vault's secret sessionKeySecretName).

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Container image holding both services, e.g. daprpairxyz.azurecr.io/dapr-pair:1.0.0.')
param image string

@description('Name of the Azure Container Registry of base.bicep that holds the image, pulled with the identity dapr-pair-pull (AcrPull). Empty for a public image.')
param registryName string = 'daprpair${uniqueString(resourceGroup().id)}'

@description('Name of the Container Apps environment.')
param environmentName string = 'dapr-pair-env'

@description('The Cosmos DB account of base.bicep.')
param cosmosAccountName string = 'dapr-pair-${uniqueString(resourceGroup().id)}'

@description('The Key Vault of base.bicep.')
param vaultName string = 'dapr-pair-${uniqueString(resourceGroup().id)}'

@description('Client ID of the Entra app registration used for login.')
param loginClientId string

@description('Name of the secret in the vault that holds that app registration\'s client secret.')
param loginSecretName string = 'login-client-secret'

@description('Who signs browsers in: Container Apps\' built-in auth (AUTH_MODE=easyauth), or the frontend itself (AUTH_MODE=session: OpenID Connect with the same app registration, sessions in Cosmos DB through Dapr). base.bicep takes the same value.')
@allowed([ 'builtin', 'session' ])
param login string = 'builtin'

@description('With login=session: the secret in the vault holding the sessions\' encryption key (64 hex characters, `openssl rand -hex 32`, written once: a new key makes every session unreadable).')
param sessionKeySecretName string = 'session-encryption-key'

// Made and granted their roles by base.bicep, before the apps exist.
resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: 'dapr-pair-pull'
}

resource backendIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: 'dapr-pair-backend'
}

resource frontendIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: 'dapr-pair-frontend'
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'dapr-pair-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

// A workload-profiles environment, as `az containerapp env create` makes it for deploy.sh;
// the apps run on its Consumption profile.
resource containerAppsEnvironment 'Microsoft.App/managedEnvironments@2025-07-01' = {
  name: environmentName
  location: location
  properties: {
    workloadProfiles: [ { name: 'Consumption', workloadProfileType: 'Consumption' } ]
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

// deploy/aca/statestore.yaml, the same component.
resource statestore 'Microsoft.App/managedEnvironments/daprComponents@2025-07-01' = {
  parent: containerAppsEnvironment
  name: 'statestore'
  properties: {
    componentType: 'state.azure.cosmosdb'
    version: 'v1'
    ignoreErrors: false
    initTimeout: '60s'
    metadata: [
      { name: 'url', value: cosmos.properties.documentEndpoint }
      { name: 'database', value: 'dapr-pair' }
      { name: 'collection', value: 'state' }
      { name: 'azureClientId', value: backendIdentity.properties.clientId }
      // Only the managed identity: Dapr 1.16's default chain tries a SPIFFE assertion first,
      // which can hang on Container Apps (microsoft/azure-container-apps #1676).
      { name: 'azureAuthMethods', value: 'ManagedIdentity' }
    ]
    scopes: [ 'backend' ]
  }
}

// The same component as deploy/aca/sessionstore.yaml, its key a Key Vault reference read as the
// frontend's identity (which holds Key Vault Secrets User on the vault).
resource sessionstore 'Microsoft.App/managedEnvironments/daprComponents@2025-07-01' = if (login == 'session') {
  parent: containerAppsEnvironment
  name: 'sessionstore'
  properties: {
    componentType: 'state.azure.cosmosdb'
    version: 'v1'
    ignoreErrors: false
    initTimeout: '60s'
    secrets: [
      {
        name: 'session-encryption-key'
        keyVaultUrl: '${vault.properties.vaultUri}secrets/${sessionKeySecretName}'
        identity: frontendIdentity.id
      }
    ]
    metadata: [
      { name: 'url', value: cosmos.properties.documentEndpoint }
      { name: 'database', value: 'dapr-pair' }
      { name: 'collection', value: 'sessions' }
      { name: 'azureClientId', value: frontendIdentity.properties.clientId }
      { name: 'azureAuthMethods', value: 'ManagedIdentity' }
      // Dapr encrypts every record with it; a metadata item of another name is no encryption.
      { name: 'primaryEncryptionKey', secretRef: 'session-encryption-key' }
    ]
    scopes: [ 'frontend' ]
  }
}

var registries = empty(registryName) ? [] : [
  { server: '${registryName}.azurecr.io', identity: pullIdentity.id }
]

var probes = [
  { type: 'Liveness', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10 }
  { type: 'Readiness', httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 5 }
]

// Rollouts (docs/container-apps.md, "Rollouts"; docs/rollouts.md). On SIGTERM the app answers
// /readyz 503 but keeps serving for SHUTDOWN_DELAY while ingress and the callers' sidecars stop
// sending to it, then drains within SHUTDOWN_TIMEOUT; the grace period covers both with a
// margin. Two replicas at least: a new revision, or the platform's maintenance (which does not
// roll), never stops the only one.
var shutdownSettings = [
  { name: 'SHUTDOWN_DELAY', value: '5s' }
  { name: 'SHUTDOWN_TIMEOUT', value: '10s' }
]
var terminationGracePeriodSeconds = 30
var scale = { minReplicas: 2, maxReplicas: 3 }
// Dapr's app health check on the liveness path (never /readyz: the sidecar would refuse every
// call to a draining app at once). Container Apps manages the sidecar: how long it outlives the
// app on SIGTERM (Dapr's block-shutdown-duration, graceful-shutdown-seconds) cannot be set.
var daprAppHealth = { enabled: true, path: '/healthz', probeIntervalSeconds: 1, probeTimeoutMilliseconds: 500, threshold: 3 }

resource backend 'Microsoft.App/containerApps@2025-07-01' = {
  name: 'backend'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${backendIdentity.id}': {}, '${pullIdentity.id}': {} }
  }
  dependsOn: [ statestore ]
  properties: {
    environmentId: containerAppsEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      // Internal: only apps in the environment; the app also demands the APP_API_TOKEN that
      // Container Apps gives its Dapr sidecar.
      ingress: { external: false, targetPort: 8080 }
      dapr: { enabled: true, appId: 'backend', appPort: 8080, appProtocol: 'http', appHealth: daprAppHealth }
      registries: registries
    }
    template: {
      containers: [
        {
          name: 'backend'
          image: image
          env: concat([
            { name: 'SERVICE', value: 'backend' }
            { name: 'LOG_FORMAT', value: 'json' }
          ], shutdownSettings)
          resources: { cpu: json('0.25'), memory: '0.5Gi' }
          probes: probes
        }
      ]
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
      scale: scale
    }
  }
}

var frontendIdentities = {
  type: 'UserAssigned'
  userAssignedIdentities: { '${pullIdentity.id}': {}, '${frontendIdentity.id}': {} }
}

var session = login == 'session'
var issuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

// Everything of the frontend but its ingress, which is internal until its login is on
// (frontend, frontendAuth), then external (frontendPublic).
var frontendConfiguration = {
  // The sidecar calls the app over HTTP; the app reaches its sessions over the sidecar's gRPC
  // port (50001, DAPR_GRPC_PORT). Container Apps takes no Dapr Configuration: both of the
  // sidecar's ports stay inside the replica, and ingress reaches only the app's.
  dapr: { enabled: true, appId: 'frontend', appPort: 8080, appProtocol: 'http', appHealth: daprAppHealth }
  registries: registries
  // The sign-in client secret, read from the vault as the frontend's identity: for built-in
  // auth, or for the app itself (OIDC_CLIENT_SECRET); with the session login also the session
  // store's key (SESSION_ENCRYPTION_KEY), the vault secret its component reads.
  secrets: concat([
    {
      name: session ? 'oidc-client-secret' : 'microsoft-provider-authentication-secret'
      keyVaultUrl: '${vault.properties.vaultUri}secrets/${loginSecretName}'
      identity: frontendIdentity.id
    }
  ], session ? [
    {
      name: 'session-encryption-key'
      keyVaultUrl: '${vault.properties.vaultUri}secrets/${sessionKeySecretName}'
      identity: frontendIdentity.id
    }
  ] : [])
}

// AUTH_MODE=session: browsers sign in with the app registration (v2 tokens, whose audience is
// the client id, also for API clients' bearer JWTs on /call); the tokens a session holds are
// for this app's own scope only. The redirect URL is the external address's /auth/callback.
var sessionSettings = [
  { name: 'AUTH_MODE', value: 'session' }
  { name: 'OIDC_ISSUER', value: issuer }
  { name: 'OIDC_AUDIENCE', value: loginClientId }
  { name: 'OIDC_CLIENT_ID', value: loginClientId }
  { name: 'OIDC_CLIENT_SECRET', secretRef: 'oidc-client-secret' }
  { name: 'OIDC_REDIRECT_URL', value: 'https://frontend.${containerAppsEnvironment.properties.defaultDomain}/auth/callback' }
  { name: 'OIDC_SCOPES', value: 'openid profile offline_access api://${loginClientId}/user_impersonation' }
  // The session store's key (its primaryEncryptionKey): the app derives the sign-in attempt
  // cookie's key and the keyed hash sessions are stored under from it.
  { name: 'SESSION_ENCRYPTION_KEY', secretRef: 'session-encryption-key' }
]

var frontendTemplate = {
  containers: [
    {
      name: 'frontend'
      image: image
      env: concat([
        { name: 'SERVICE', value: 'frontend' }
        { name: 'REQUIRE_APP_API_TOKEN', value: 'false' }
        { name: 'LOG_FORMAT', value: 'json' }
      ], shutdownSettings, session ? sessionSettings : [ { name: 'AUTH_MODE', value: 'easyauth' } ])
      resources: { cpu: json('0.25'), memory: '0.5Gi' }
      probes: probes
    }
  ]
  terminationGracePeriodSeconds: terminationGracePeriodSeconds
  scale: scale
}

resource frontend 'Microsoft.App/containerApps@2025-07-01' = {
  name: 'frontend'
  location: location
  identity: frontendIdentities
  // Its sidecar loads the session store at start.
  dependsOn: [ sessionstore ]
  properties: {
    environmentId: containerAppsEnvironment.id
    workloadProfileName: 'Consumption'
    // Internal until frontendAuth is on: nothing from the internet reaches it before.
    configuration: union(frontendConfiguration, { ingress: { external: false, targetPort: 8080 } })
    template: frontendTemplate
  }
}

var builtinAuth = {
  platform: { enabled: true }
  globalValidation: {
    unauthenticatedClientAction: 'RedirectToLoginPage'
    redirectToProvider: 'azureactivedirectory'
    excludedPaths: [ '/healthz', '/readyz' ]
  }
  httpSettings: { requireHttps: true }
  identityProviders: {
    azureActiveDirectory: {
      enabled: true
      registration: {
        clientId: loginClientId
        clientSecretSettingName: 'microsoft-provider-authentication-secret'
        openIdIssuer: issuer
      }
      validation: {
        allowedAudiences: [ loginClientId, 'api://${loginClientId}' ]
      }
    }
  }
}

// Built-in auth with login=builtin; with login=session turned off (the app guards every route
// itself), declared all the same so that a deployment switched from builtin loses it: a
// deployment does not delete what it no longer declares.
resource frontendAuth 'Microsoft.App/containerApps/authConfigs@2025-07-01' = {
  parent: frontend
  name: 'current'
  properties: session ? { platform: { enabled: false } } : builtinAuth
}

// The same app with external ingress, once its built-in auth is on (login=session: once the app
// is declared with its own sign-in). External ingress reaches the app directly, not through its
// sidecar: built-in auth or the app's sign-in guards it, and the app cannot demand the
// sidecar's token.
module frontendPublic 'frontend-public.bicep' = {
  name: 'frontend-public'
  dependsOn: [ frontendAuth ]
  params: {
    location: location
    identity: frontendIdentities
    properties: {
      environmentId: containerAppsEnvironment.id
      workloadProfileName: 'Consumption'
      configuration: union(frontendConfiguration, { ingress: { external: true, targetPort: 8080 } })
      template: frontendTemplate
    }
  }
}

output frontendUrl string = 'https://${frontendPublic.outputs.fqdn}'
output loginRedirectUri string = 'https://${frontendPublic.outputs.fqdn}${session ? '/auth/callback' : '/.auth/login/aad/callback'}'
