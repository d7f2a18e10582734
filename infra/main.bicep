// Web PubSub Watchdog: one deployment per subscription (`azd up`, or `az deployment sub create`).
// Deploys a resource group with the Function App (Flex Consumption, Python 3.11, system-assigned
// identity), its own storage account (shared keys off) and Application Insights on Log Analytics,
// and grants the identity exactly the rights in watchdog/permissions.py (checked by
// tests/unit/test_permissions.py).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd: AZURE_ENV_NAME). Names the resource group and tags every resource.')
param environmentName string

// The regions that offer Flex Consumption, as Microsoft's Flex quickstart template lists them
// (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep), less the canary region
// eastus2euap. `azd up` offers exactly these (metadata azd.type location).
@minLength(1)
@description('Region of the watchdog\'s own resources; it must offer Flex Consumption. Web PubSub resources in every region are watched.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of the resource group to create. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Report-only: no right to scale (Web PubSub write) nor to write secrets (Key Vault Secrets User instead of Officer). Remediation modes "on" are lowered to "plan".')
param reportOnly bool = false

@description('ARM ids of the Key Vaults (RBAC authorization) that hold Web PubSub connection strings. The watchdog reads their secrets and, unless reportOnly, writes new versions.')
param keyVaultResourceIds array = []

@description('ARM ids of Key Vaults the app settings only reference (notification webhook URLs). Key Vault Secrets User on each.')
param referencedKeyVaultResourceIds array = []

@description('Notification settings as Key Vault references: app setting name -> secret URI (https://<vault>.vault.azure.net/secrets/<name>). The vault must be in keyVaultResourceIds or referencedKeyVaultResourceIds. azd: NOTIFICATION_SECRET_URIS (JSON); null means none.')
param notificationSecretUris object?

@allowed(['off', 'plan', 'on'])
@description('WATCHDOG_SECRET_SYNC: off, plan (dry run) or on.')
param secretSyncMode string = 'plan'

@allowed(['off', 'plan', 'on'])
@description('WATCHDOG_SCALE: off, plan (dry run) or on.')
param scaleMode string = 'plan'

@allowed(['off', 'plan', 'on'])
@description('WATCHDOG_SCALE_IN: off, plan (dry run) or on.')
param scaleInMode string = 'off'

@minValue(1)
@maxValue(1000)
@description('WATCHDOG_MAX_UNITS: most units the watchdog scales a resource to.')
param maxUnits int = 10

@description('WATCHDOG_SCHEDULE: NCRONTAB schedule of the timer sweep.')
param schedule string = '0 */5 * * * *'

@description('Event-driven checks (README "Events"): Event Grid system topics on the subscription and on each vault of keyVaultResourceIds, subscribed to the events function. The function must exist first: set it (azd: ENABLE_EVENTS=true) and provision again after the first deploy.')
param enableEvents bool = false
@allowed([5, 10, 15])
@description('Minutes between timer sweeps (the period of schedule): the dead man\'s switch alert fires after 3 periods without a successful sweep. azd: SWEEP_PERIOD_MINUTES.')
param sweepPeriodMinutes int = 5

@description('Email addresses the watchdog\'s own alerts (no successful sweep; a sweep failed) go to. azd: ALERT_EMAILS (JSON array).')
param alertEmails array = []

@secure()
@description('Teams workflow or webhook URL the watchdog\'s own alerts are posted to (common alert schema); empty for none. azd: ALERT_WEBHOOK_URL. Never an output.')
param alertWebhookUrl string = ''

@description('Any other app setting (name -> value), e.g. {"WATCHDOG_CAPACITY_WARN_PCT": "75"}. Every setting has a safe default; see the README\'s configuration reference. azd: EXTRA_APP_SETTINGS (JSON); null means none.')
param extraAppSettings object?

var abbrs = {
  resourceGroup: 'rg-'
  functionApp: 'func-'
  plan: 'plan-'
  storage: 'st'
  logAnalytics: 'log-'
  appInsights: 'appi-'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var rgName = !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourceGroup}${environmentName}'

// Report-only deployments hold no write rights: never ask the code to write.
var secretSync = reportOnly && secretSyncMode == 'on' ? 'plan' : secretSyncMode
var scale = reportOnly && scaleMode == 'on' ? 'plan' : scaleMode
var scaleIn = reportOnly && scaleInMode == 'on' ? 'plan' : scaleInMode

var keyVaultUrls = map(keyVaultResourceIds, id => 'https://${last(split(id, '/'))}${environment().suffixes.keyvaultDns}')

// The watchdog's own settings (names: watchdog/settings.py SETTINGS). Settings left out here
// take their documented defaults; extraAppSettings sets any of them.
var watchdogSettings = {
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  WATCHDOG_KEY_VAULTS: join(keyVaultUrls, ',')
  WATCHDOG_SCHEDULE: schedule
  WATCHDOG_SECRET_SYNC: secretSync
  WATCHDOG_SCALE: scale
  WATCHDOG_SCALE_IN: scaleIn
  WATCHDOG_MAX_UNITS: string(maxUnits)
  WATCHDOG_LEDGER: 'table'
}

// Notification targets never appear in clear text: Key Vault references, resolved by the
// Functions platform with the app's identity.
var notificationSettings = toObject(items(notificationSecretUris ?? {}), item => item.key, item => '@Microsoft.KeyVault(SecretUri=${item.value})')
// main.parameters.json passes null when the azd variable is unset (an object default cannot be
// written inside azd's ${NAME=default}).
var extraSettings = extraAppSettings ?? {}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: tags
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    applicationInsightsName: '${abbrs.appInsights}${resourceToken}'
  }
}

// The watchdog's watchdog (alerts on its own telemetry) and a workbook over it.
module alerts 'core/monitor/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    nameSuffix: resourceToken
    workspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    sweepPeriodMinutes: sweepPeriodMinutes
    alertEmails: alertEmails
    alertWebhookUrl: alertWebhookUrl
  }
}

module workbook 'core/monitor/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    workspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    environmentName: environmentName
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.storage}${resourceToken}'
    deploymentContainerName: 'app-package'
  }
}

module app 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.functionApp}${resourceToken}'
    planName: '${abbrs.plan}${resourceToken}'
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
  }
}

// Storage data roles on its own storage account and telemetry publishing on its own
// Application Insights: nothing outside the resource group.
module appRbac 'app/rbac.bicep' = {
  name: 'function-app-rbac'
  scope: rg
  params: {
    principalId: app.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// The custom role at subscription scope: exactly the manifest's actions.
module watchdogRole 'app/watchdog-role.bicep' = {
  name: 'watchdog-role'
  params: {
    principalId: app.outputs.principalId
    environmentName: environmentName
    reportOnly: reportOnly
  }
}

// Key Vault Secrets Officer (or User when report-only) on each vault, assigned in the vault's own
// resource group (and subscription).
module vaultAccess 'app/vault-access.bicep' = [for (vaultId, i) in keyVaultResourceIds: {
  name: 'watchdog-vault-access-${i}'
  scope: resourceGroup(split(vaultId, '/')[2], split(vaultId, '/')[4])
  params: {
    vaultName: last(split(vaultId, '/'))
    principalId: app.outputs.principalId
    roleDefinitionId: reportOnly ? keyVaultSecretsUser : keyVaultSecretsOfficer
  }
}]

module referencedVaultAccess 'app/vault-access.bicep' = [for (vaultId, i) in referencedKeyVaultResourceIds: {
  name: 'watchdog-referenced-vault-access-${i}'
  scope: resourceGroup(split(vaultId, '/')[2], split(vaultId, '/')[4])
  params: {
    vaultName: last(split(vaultId, '/'))
    principalId: app.outputs.principalId
    roleDefinitionId: keyVaultSecretsUser
  }
}]

// The app settings last: Key Vault references resolve when written, so every role the app's
// identity uses (vaults, its own storage, the custom role) must exist first.
module appSettings 'app/app-settings.bicep' = {
  name: 'function-app-settings'
  scope: rg
  params: {
    functionAppName: app.outputs.name
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    // Order matters: later objects win, so extraAppSettings cannot undo the report-only clamp.
    watchdogSettings: union(extraSettings, notificationSettings, watchdogSettings)
  }
  dependsOn: [
    appRbac
    watchdogRole
    vaultAccess
    referencedVaultAccess
  ]
}

// Event-driven checks: the names are watchdog/events/types.py's (tests/unit/test_infra_events.py).
var eventsFunctionId = '${app.outputs.id}/functions/events'
var resourceEventTypes = [
  'Microsoft.Resources.ResourceActionSuccess'
  'Microsoft.Resources.ResourceWriteSuccess'
  'Microsoft.Resources.ResourceDeleteSuccess'
]
// Only Web PubSub changes; above all not listKeys, which every sweep calls (an event per call).
var webPubSubOperations = [
  'Microsoft.SignalRService/WebPubSub/regenerateKey/action'
  'Microsoft.SignalRService/WebPubSub/write'
  'Microsoft.SignalRService/WebPubSub/delete'
]
var secretEventTypes = [
  'Microsoft.KeyVault.SecretNewVersionCreated'
  'Microsoft.KeyVault.SecretNearExpiry'
  'Microsoft.KeyVault.SecretExpired'
]

module subscriptionEvents 'app/event-subscription.bicep' = if (enableEvents) {
  name: 'watchdog-events-subscription'
  scope: rg
  params: {
    topicName: 'evgt-sub-${resourceToken}'
    location: 'global'
    tags: tags
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
    functionResourceId: eventsFunctionId
    includedEventTypes: resourceEventTypes
    advancedFilters: [
      {
        operatorType: 'StringIn'
        key: 'data.operationName'
        values: webPubSubOperations
      }
    ]
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
  dependsOn: [
    appSettings
  ]
}

// One system topic per watched vault, from the same list as the vault role assignments.
module vaultEvents 'app/vault-events.bicep' = [for (vaultId, i) in (enableEvents ? keyVaultResourceIds : []): {
  name: 'watchdog-vault-events-${i}'
  scope: resourceGroup(split(vaultId, '/')[2], split(vaultId, '/')[4])
  params: {
    vaultName: last(split(vaultId, '/'))
    tags: tags
    functionResourceId: eventsFunctionId
    includedEventTypes: secretEventTypes
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
  dependsOn: [
    appSettings
  ]
}]

// Built-in role definition ids (the same in every subscription); see watchdog/permissions.py.
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output FUNCTION_APP_PRINCIPAL_ID string = app.outputs.principalId
output CUSTOM_ROLE_DEFINITION_ID string = watchdogRole.outputs.roleDefinitionId
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
