// What the apps of main.bicep use, made and granted its roles before the apps exist: a role
// assignment takes effect some minutes after it is made, and an app created in the same
// deployment as the role it pulls its image with fails its first revision
// (microsoft/azure-container-apps #646, #836). Deploy this first, then build the image (which
// takes minutes: the roles are in effect by then), then main.bicep:
//   az deployment group create --resource-group RG --template-file deploy/aca/base.bicep \
//     --parameters deployerPrincipalId="$(az ad signed-in-user show --query id --output tsv)"
// It grants roles, so the deployer needs Owner, or Contributor plus Role Based Access Control
// Administrator (or User Access Administrator), on the resource group.

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Globally unique name of the Azure Container Registry the image is built into. Its admin user stays off: the apps pull with the identity dapr-pair-pull.')
param registryName string = 'daprpair${uniqueString(resourceGroup().id)}'

@description('Globally unique Cosmos DB account name.')
param cosmosAccountName string = 'dapr-pair-${uniqueString(resourceGroup().id)}'

@description('Globally unique Key Vault name (at most 24 characters). It keeps the sign-in app\'s client secret, which the frontend reads as its identity dapr-pair-frontend.')
param vaultName string = 'dapr-pair-${uniqueString(resourceGroup().id)}'

@description('Who signs browsers in, as in main.bicep: Container Apps\' built-in auth, or the frontend itself (AUTH_MODE=session), which adds the Cosmos DB container `sessions` and the frontend identity\'s data role on it.')
@allowed([ 'builtin', 'session' ])
param login string = 'builtin'

@description('Object id of who deploys (az ad signed-in-user show --query id), allowed to write the sign-in secret into the vault (Key Vault Secrets Officer). Empty: no one is.')
param deployerPrincipalId string = ''

var roles = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  cosmosDataContributor: '00000000-0000-0000-0000-000000000002'
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  sku: { name: 'Basic' }
  properties: { adminUserEnabled: false }
}

// Both apps pull the image with this identity, which can do nothing else: the frontend must not
// hold the backend's identity, which can read and write the data.
resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'dapr-pair-pull'
  location: location
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, pullIdentity.id, roles.acrPull)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: pullIdentity.properties.principalId
    principalType: 'ServicePrincipal'
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

// The frontend's sign-ins and sessions (login=session; deploy/aca/sessionstore.yaml): TTL on with
// no default (-1), so each record lives as long as its ttlInSeconds says. Only in that mode: a
// container costs its own throughput.
resource sessions 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = if (login == 'session') {
  parent: database
  name: 'sessions'
  properties: {
    resource: {
      id: 'sessions'
      partitionKey: { paths: [ '/partitionKey' ], kind: 'Hash' }
      defaultTtl: -1
    }
  }
}

// The backend's sidecar signs in to Cosmos DB as this identity (data plane only).
resource backendIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'dapr-pair-backend'
  location: location
}

resource cosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, backendIdentity.id, roles.cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${roles.cosmosDataContributor}'
    principalId: backendIdentity.properties.principalId
    scope: cosmos.id
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
  }
}

// The frontend reads the sign-in secret (and with login=session the session key) from the vault
// as this identity; with login=session its sidecar also reads and writes the sessions as it.
resource frontendIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'dapr-pair-frontend'
  location: location
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, frontendIdentity.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: frontendIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The sessions container only: the frontend can neither read nor write the backend's state.
resource sessionsDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = if (login == 'session') {
  parent: cosmos
  name: guid(cosmos.id, frontendIdentity.id, roles.cosmosDataContributor, 'sessions')
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${roles.cosmosDataContributor}'
    principalId: frontendIdentity.properties.principalId
    scope: '${cosmos.id}/dbs/${database.name}/colls/${sessions.name}'
  }
  dependsOn: [ sessions ]
}

resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  scope: vault
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
  }
}

output registryServer string = registry.properties.loginServer
output vaultName string = vault.name
output cosmosAccountName string = cosmos.name
