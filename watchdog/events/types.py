"""The Event Grid event types the watchdog subscribes to, and the operations it reacts to.
Checked against tests/data/azure/events/event-types.txt (Microsoft's event schemas) by
tests/unit/test_events.py; infra/app/events.bicep filters on the same names."""
from __future__ import annotations

# Microsoft.Resources.Subscriptions system topic (Azure Resource Manager events)
RESOURCE_ACTION_SUCCESS = "Microsoft.Resources.ResourceActionSuccess"
RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
RESOURCE_DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
RESOURCE_EVENTS = (RESOURCE_ACTION_SUCCESS, RESOURCE_WRITE_SUCCESS, RESOURCE_DELETE_SUCCESS)

# Microsoft.KeyVault.vaults system topics (one per watched vault)
SECRET_NEW_VERSION_CREATED = "Microsoft.KeyVault.SecretNewVersionCreated"
SECRET_NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
SECRET_EXPIRED = "Microsoft.KeyVault.SecretExpired"
SECRET_EVENTS = (SECRET_NEW_VERSION_CREATED, SECRET_NEAR_EXPIRY, SECRET_EXPIRED)

ALL = RESOURCE_EVENTS + SECRET_EVENTS

# The resource type whose events matter (an advanced filter on data.operationName in infra).
WEBPUBSUB_TYPE = "Microsoft.SignalRService/WebPubSub"
# ARM operations on it (data.operationName): each is a reason to check the resource.
REGENERATE_KEY = f"{WEBPUBSUB_TYPE}/regenerateKey/action"
WRITE = f"{WEBPUBSUB_TYPE}/write"
DELETE = f"{WEBPUBSUB_TYPE}/delete"
OPERATIONS = (REGENERATE_KEY, WRITE, DELETE)

SECRET_OBJECT_TYPE = "Secret"  # data.ObjectType of Key Vault secret events
