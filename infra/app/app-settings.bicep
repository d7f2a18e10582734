// The Function App's app settings. main.bicep deploys this module after every role assignment of
// the app's identity: Key Vault references resolve when a setting is written (then only every 24
// hours or on the next configuration change), and the host needs its storage role to start.
param functionAppName string
param storageAccountName string
param applicationInsightsName string

@description('The watchdog\'s app settings (WATCHDOG_*, AZURE_SUBSCRIPTION_ID, Key Vault references), built in main.bicep.')
param watchdogSettings object

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Functions host settings: identity-based host storage (blobs: the timer's schedule monitor and
// locks; the ledger's tables; the queue of background checks). FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are
// not app settings on Flex Consumption (functionAppConfig.runtime sets them).
var appSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(watchdogSettings, appSettings)
}
