// The Container Apps deployment of deploy.sh as infrastructure as code, for an image already
// pushed to a registry (the GitHub Actions workflow, or `az acr build`). Deploy with:
//   az deployment group create --resource-group RG --template-file deploy/aca/main.bicep \
//     --parameters deploy/aca/main.parameters.json --parameters loginClientSecret=SECRET
// The Entra app registration for login is made beforehand (deploy/login-app.sh, README
// "Deploy to Azure Container Apps"); its client secret is passed at deploy time, never stored
// in a file.

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Container image holding both services, e.g. myregistry.azurecr.io/dapr-pair:1.0.0.')
param image string

@description('Name of the Azure Container Registry in this resource group that holds the image, pulled with an identity of its own (AcrPull). Empty for a public image.')
param registryName string = ''

@description('Name of the Container Apps environment.')
param environmentName string = 'dapr-pair-env'

@description('Globally unique Cosmos DB account name.')
param cosmosAccountName string = 'dapr-pair-${uniqueString(resourceGroup().id)}'

@description('Client ID of the Entra app registration used for login.')
param loginClientId string

@secure()
@description('Client secret of that app registration.')
param loginClientSecret string

var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'dapr-pair-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource containerAppsEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: cosmosAccountName
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    locations: [ { locationName: location, failoverPriority: 0 } ]
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: cosmos
  name: 'dapr-pair'
  properties: { resource: { id: 'dapr-pair' } }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: 'state'
  properties: {
    resource: {
      id: 'state'
      partitionKey: { paths: [ '/partitionKey' ], kind: 'Hash' }
    }
  }
}

resource backendIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'dapr-pair-backend'
  location: location
}

resource cosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, backendIdentity.id, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: backendIdentity.properties.principalId
    scope: cosmos.id
  }
}

// Both apps pull the image with this identity, which can do nothing else: the frontend must not
// hold the backend's identity, which can read and write the data.
resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'dapr-pair-pull'
  location: location
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (!empty(registryName)) {
  name: registryName
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(registryName)) {
  scope: registry
  name: guid(registry.id, pullIdentity.id, acrPullRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: pullIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

var registries = empty(registryName) ? [] : [
  { server: '${registryName}.azurecr.io', identity: pullIdentity.id }
]

resource statestore 'Microsoft.App/managedEnvironments/daprComponents@2024-03-01' = {
  parent: containerAppsEnvironment
  name: 'statestore'
  properties: {
    componentType: 'state.azure.cosmosdb'
    version: 'v1'
    ignoreErrors: false
    initTimeout: '30s'
    metadata: [
      { name: 'url', value: cosmos.properties.documentEndpoint }
      { name: 'database', value: 'dapr-pair' }
      { name: 'collection', value: 'state' }
      { name: 'azureClientId', value: backendIdentity.properties.clientId }
    ]
    scopes: [ 'backend' ]
  }
}

var probes = [
  { type: 'Liveness', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10 }
  { type: 'Readiness', httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 5 }
]

resource backend 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'backend'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${backendIdentity.id}': {}, '${pullIdentity.id}': {} }
  }
  dependsOn: [ statestore, container, cosmosDataContributor, acrPull ]
  properties: {
    managedEnvironmentId: containerAppsEnvironment.id
    configuration: {
      // Internal: only apps in the environment; the app also demands the APP_API_TOKEN that
      // Container Apps gives its Dapr sidecar.
      ingress: { external: false, targetPort: 8080 }
      dapr: { enabled: true, appId: 'backend', appPort: 8080, appProtocol: 'http' }
      registries: registries
    }
    template: {
      containers: [
        {
          name: 'backend'
          image: image
          env: [
            { name: 'SERVICE', value: 'backend' }
            { name: 'LOG_FORMAT', value: 'json' }
          ]
          resources: { cpu: json('0.25'), memory: '0.5Gi' }
          probes: probes
        }
      ]
      scale: { minReplicas: 1, maxReplicas: 3 }
    }
  }
}

resource frontend 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'frontend'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${pullIdentity.id}': {} }
  }
  dependsOn: [ acrPull ]
  properties: {
    managedEnvironmentId: containerAppsEnvironment.id
    configuration: {
      // External ingress reaches the app directly, not through its sidecar: built-in auth
      // guards it, and the app cannot demand the sidecar's token.
      ingress: { external: true, targetPort: 8080 }
      dapr: { enabled: true, appId: 'frontend', appPort: 8080, appProtocol: 'http' }
      registries: registries
      secrets: [ { name: 'microsoft-provider-authentication-secret', value: loginClientSecret } ]
    }
    template: {
      containers: [
        {
          name: 'frontend'
          image: image
          env: [
            { name: 'SERVICE', value: 'frontend' }
            { name: 'REQUIRE_APP_API_TOKEN', value: 'false' }
            { name: 'AUTH_MODE', value: 'easyauth' }
            { name: 'LOG_FORMAT', value: 'json' }
          ]
          resources: { cpu: json('0.25'), memory: '0.5Gi' }
          probes: probes
        }
      ]
      scale: { minReplicas: 1, maxReplicas: 3 }
    }
  }
}

resource frontendAuth 'Microsoft.App/containerApps/authConfigs@2024-03-01' = {
  parent: frontend
  name: 'current'
  properties: {
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
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ loginClientId, 'api://${loginClientId}' ]
        }
      }
    }
  }
}

output frontendUrl string = 'https://${frontend.properties.configuration.ingress.fqdn}'
output loginRedirectUri string = 'https://${frontend.properties.configuration.ingress.fqdn}/.auth/login/aad/callback'
