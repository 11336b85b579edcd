// The frontend once more, now with external ingress. main.bicep deploys this module only after
// the frontend's built-in auth is on (its authConfigs), so the app is never reachable from the
// internet without it; until then the frontend has internal ingress.

@description('Azure region of the app.')
param location string

@description('The app\'s identity block, as main.bicep declares it.')
param identity object

@description('The app\'s properties, as main.bicep declares them, with external ingress.')
param properties object

resource frontend 'Microsoft.App/containerApps@2025-07-01' = {
  name: 'frontend'
  location: location
  identity: identity
  properties: properties
}

output fqdn string = frontend.properties.configuration.ingress.fqdn
