// One Event Grid system topic and its subscription to the watchdog's `events` function
// (watchdog/functions/events.py). Used for the subscription (Azure Resource Manager events,
// filtered to Web PubSub regenerateKey/write/delete) and for each watched vault (the three secret
// events). Event types and operations: watchdog/events/types.py (checked by tests/unit/test_infra_events.py).
// Undeliverable events go to the dead-letter container, written with the topic's own identity
// (identity-based: the storage account allows no shared key).
param topicName string
@description('global for the subscription topic; the vault\'s region for a vault topic.')
param location string
param tags object = {}
@description('ARM id of the event source: the subscription, or a vault.')
param source string
@allowed(['Microsoft.Resources.Subscriptions', 'Microsoft.KeyVault.vaults'])
param topicType string
param functionResourceId string
param includedEventTypes array
param advancedFilters array = []
@description('ARM id of the watchdog\'s own storage account (the dead-letter container is in it).')
param deadLetterStorageId string
param deadLetterContainerName string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: source
    topicType: topicType
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'watchdog-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: includedEventTypes
      advancedFilters: advancedFilters
    }
    // Event Grid's own schedule (10 s, 30 s, 1 min, 5 min ... hourly); a change older than an
    // hour is the timer's: it sweeps everything every WATCHDOG_SCHEDULE anyway.
    retryPolicy: {
      maxDeliveryAttempts: 10
      eventTimeToLiveInMinutes: 60
    }
    deadLetterWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

// The topic's identity may write dead letters, on that container only.
module deadLetterWriter 'dead-letter.bicep' = {
  name: 'dead-letter-${uniqueString(topic.id)}'
  scope: resourceGroup(split(deadLetterStorageId, '/')[2], split(deadLetterStorageId, '/')[4])
  params: {
    storageAccountName: last(split(deadLetterStorageId, '/'))
    containerName: deadLetterContainerName
    principalId: topic.identity.principalId
  }
}
