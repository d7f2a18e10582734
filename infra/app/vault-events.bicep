// The system topic of one watched vault (in the vault's resource group and region) and its
// subscription to the three secret events. Deployed per vault of keyVaultResourceIds.
param vaultName string
param tags object = {}
param functionResourceId string
param includedEventTypes array
param deadLetterStorageId string
param deadLetterContainerName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

module events 'event-subscription.bicep' = {
  name: 'watchdog-events-${vaultName}'
  params: {
    topicName: 'evgt-${vaultName}'
    location: vault.location
    tags: tags
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
    functionResourceId: functionResourceId
    includedEventTypes: includedEventTypes
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainerName: deadLetterContainerName
  }
}
