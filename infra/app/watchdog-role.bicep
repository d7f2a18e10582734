// The watchdog's custom role at subscription scope, and its assignment to the app's identity.
// Its actions are exactly watchdog/permissions.py's role_actions(reportOnly): the test
// tests/unit/test_permissions.py reads the two arrays below and fails on any difference, and
// tests/unit/test_azure_names.py fails on any action Microsoft does not publish.
// One role definition whatever the variant, so switching reportOnly updates it in place and
// leaves no stale write rights behind.
targetScope = 'subscription'

param principalId string
param environmentName string
param reportOnly bool = false

// Features discovery, replicas, keys, metrics, logs, diagnostics, autoscale, alert-rules, sites, activity-log, consumers: read-only.
var reportActions = [
  // discovery
  'Microsoft.SignalRService/WebPubSub/read'
  'Microsoft.SignalRService/WebPubSub/skus/read'
  'Microsoft.SignalRService/WebPubSub/hubs/read'
  // replicas (Premium)
  'Microsoft.SignalRService/WebPubSub/replicas/read'
  // keys (listKeys is a POST but reads; only the staged rotation regenerates, below)
  'Microsoft.SignalRService/WebPubSub/listkeys/action'
  // metrics (batch metrics API)
  'Microsoft.Insights/metrics/read'
  // logs: the three Web PubSub resource-log tables, queried on the workspace
  'Microsoft.OperationalInsights/workspaces/read'
  'Microsoft.OperationalInsights/workspaces/query/read'
  'Microsoft.OperationalInsights/workspaces/query/WebPubSubConnectivity/read'
  'Microsoft.OperationalInsights/workspaces/query/WebPubSubMessaging/read'
  'Microsoft.OperationalInsights/workspaces/query/WebPubSubHttpRequest/read'
  // diagnostics
  'Microsoft.Insights/diagnosticSettings/read'
  'Microsoft.SignalRService/WebPubSub/providers/Microsoft.Insights/diagnosticSettings/read'
  // autoscale
  'Microsoft.Insights/autoscalesettings/read'
  // alert-rules
  'Microsoft.Insights/MetricAlerts/Read'
  // sites (App Service / Function apps: event handlers' regions, consumers of bound secrets)
  'Microsoft.Web/sites/Read'
  // activity-log
  'Microsoft.Insights/eventtypes/values/read'
  // consumers: the status of apps' Key Vault references (never the settings' values)
  'Microsoft.Web/sites/config/Read'
]

// Features scaling, alerts, consumer-refresh, consumer-restart, rotate: left out when reportOnly. (Secret sync writes through the Key Vault role.)
var remediationActions = [
  'Microsoft.SignalRService/WebPubSub/write'
  'Microsoft.SignalRService/locations/operationStatuses/webpubsub/read'
  'Microsoft.SignalRService/locations/operationresults/webpubsub/read'
  // alerts (the two baseline metric alert rules; linking an action group needs read on it)
  'Microsoft.Insights/MetricAlerts/Write'
  'Microsoft.Insights/ActionGroups/Read'
  // consumer-refresh (Key Vault reference refresh) and consumer-restart
  'Microsoft.Web/sites/config/Write'
  'Microsoft.Web/sites/restart/Action'
  // rotate: one key at a time, after every secret and app moved to the other key
  'Microsoft.SignalRService/WebPubSub/regenerateKey/action'
]

var roleName = 'Web PubSub Watchdog (${environmentName}, ${subscription().subscriptionId})'

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'webpubsub-watchdog', environmentName)
  properties: {
    roleName: roleName
    description: reportOnly ? 'Web PubSub Watchdog, report-only: reads Web PubSub resources, keys, metrics, logs and settings.' : 'Web PubSub Watchdog: reads Web PubSub resources, keys, metrics, logs and settings; scales Web PubSub resources.'
    type: 'customRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: reportOnly ? reportActions : concat(reportActions, remediationActions)
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, role.id)
  properties: {
    roleDefinitionId: role.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output roleDefinitionId string = role.id
