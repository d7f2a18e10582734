// One built-in Key Vault role for the app's identity on one vault (deployed into the vault's own
// resource group). The vault must use Azure RBAC authorization (enableRbacAuthorization: true).
param vaultName string
param principalId string

@allowed([
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer: read and write secrets (secret sync)
  '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User: read secrets (report-only, references)
])
param roleDefinitionId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roleDefinitionId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
