// The watchdog's own watchdog: log alerts on the sweep rows its telemetry writes (AppRequests,
// Name "watchdog.sweep"; watchdog/telemetry.py), both to one action group. The queries are files
// under queries/ so tests run the very same text on the emulator's Log Analytics.
param location string
param tags object = {}
param nameSuffix string
param workspaceId string

@description('Minutes between timer sweeps (the period of WATCHDOG_SCHEDULE): no successful sweep for 3 periods fires. The windows this gives (15, 30, 45 minutes) are ones log alerts offer.')
@allowed([5, 10, 15])
param sweepPeriodMinutes int

@description('Email addresses the alerts go to.')
param alertEmails array

@secure()
@description('A Teams workflow or webhook URL the alerts are posted to (common alert schema); empty for none.')
param alertWebhookUrl string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-watchdog-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'watchdog'
    enabled: true
    emailReceivers: [for (email, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

// Dead man's switch: counts successful sweeps over 3 schedule periods; none (a stopped timer, an app
// that no longer starts, every sweep failing) fires. It resolves itself once sweeps come back.
resource sweepsMissing 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'watchdog-sweeps-missing-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Web PubSub Watchdog: no successful sweep'
    description: 'No successful sweep was recorded for 3 schedule periods (${3 * sweepPeriodMinutes} minutes).'
    severity: 1
    enabled: true
    scopes: [ workspaceId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${3 * sweepPeriodMinutes}M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('queries/sweeps-succeeded.kql')
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: { actionGroups: [ actionGroup.id ] }
  }
}

// Every sweep that raised, in 5-minute windows that do not overlap (each failure counted once).
resource sweepsFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'watchdog-sweeps-failed-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Web PubSub Watchdog: a sweep failed'
    description: 'A sweep raised instead of finishing (configuration, ledger or an unexpected error); see AppExceptions and the Functions host log.'
    severity: 2
    enabled: true
    scopes: [ workspaceId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('queries/sweeps-failed.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: { actionGroups: [ actionGroup.id ] }
  }
}

output actionGroupId string = actionGroup.id
