// An Azure Monitor workbook over the watchdog's telemetry (watchdog/telemetry.py): findings over time
// by rule and severity, sweep duration, API calls and throttling. Its queries are the files under
// queries/, which tests run on the emulator's Log Analytics.
param location string
param tags object = {}
param workspaceId string
param environmentName string

var chart = {
  version: 'KqlItem/1.0'
  size: 0
  queryType: 0
  resourceType: 'microsoft.operationalinsights/workspaces'
  timeContextFromParameter: 'TimeRange'
}
var content = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      content: { json: '## Web PubSub Watchdog\nWhat the watchdog saw and how its sweeps went (telemetry from the Function App).' }
      name: 'title'
    }
    {
      type: 9
      content: {
        version: 'KqlParameterItem/1.0'
        parameters: [
          {
            name: 'TimeRange'
            type: 4
            isRequired: true
            value: { durationMs: 86400000 }
            typeSettings: { selectableValues: [ { durationMs: 3600000 }, { durationMs: 86400000 }, { durationMs: 604800000 }, { durationMs: 2592000000 } ] }
          }
        ]
      }
      name: 'parameters'
    }
    {
      type: 3
      content: union(chart, { title: 'Findings by rule and severity', query: loadTextContent('queries/findings-by-rule.kql'), visualization: 'barchart' })
      name: 'findings'
    }
    {
      type: 3
      content: union(chart, { title: 'Sweep duration (seconds)', query: loadTextContent('queries/sweep-duration.kql'), visualization: 'timechart' })
      name: 'duration'
    }
    {
      type: 3
      content: union(chart, { title: 'Azure API calls and throttling by service', query: loadTextContent('queries/api-calls.kql'), visualization: 'barchart' })
      name: 'api-calls'
    }
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, environmentName, 'watchdog-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Web PubSub Watchdog (${environmentName})'
    category: 'workbook'
    sourceId: workspaceId
    serializedData: string(content)
  }
}

output workbookId string = workbook.id
