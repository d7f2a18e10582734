"""infra/ subscribes exactly the events watchdog/events/types.py handles, from the subscription and
from each watched vault, with a dead-letter container written by the topics' own identities."""
from __future__ import annotations

import re

from tests.unit.test_azure_names import published
from tests.unit.test_permissions import INFRA, MAIN, block_after, strip_comments
from watchdog import permissions as perms
from watchdog.events import types


def string_array(text: str, name: str) -> list[str]:
    body = block_after(text, text.index(f"var {name} ="), "[", "]")
    return re.findall(r"'([^']+)'", body)


def test_main_subscribes_the_handled_event_types_and_operations() -> None:
    main = strip_comments(MAIN.read_text())
    assert string_array(main, "resourceEventTypes") == list(types.RESOURCE_EVENTS)
    assert string_array(main, "secretEventTypes") == list(types.SECRET_EVENTS)
    assert [o.lower() for o in string_array(main, "webPubSubOperations")] == [o.lower() for o in types.OPERATIONS]
    sub = block_after(main, main.index("module subscriptionEvents"))
    assert "topicType: 'Microsoft.Resources.Subscriptions'" in sub and "source: subscription().id" in sub
    assert re.search(r"operatorType: 'StringIn'\s*key: 'data.operationName'\s*values: webPubSubOperations", sub)
    assert "includedEventTypes: resourceEventTypes" in sub
    vaults = main[main.index("module vaultEvents"):]
    assert re.search(r"for \(vaultId, i\) in \(enableEvents \? keyVaultResourceIds : \[\]\)", vaults), \
        "one vault topic per vault of the same list as the vault role assignments"
    assert "includedEventTypes: secretEventTypes" in block_after(vaults, 0)


def test_event_subscription_delivers_to_the_function_with_retry_and_identity_based_dead_letter() -> None:
    text = strip_comments((INFRA / "app" / "event-subscription.bicep").read_text())
    assert "endpointType: 'AzureFunction'" in text and "eventDeliverySchema: 'EventGridSchema'" in text
    assert re.search(r"retryPolicy:\s*\{\s*maxDeliveryAttempts: \d+\s*eventTimeToLiveInMinutes: \d+", text)
    dead = block_after(text, text.index("deadLetterWithResourceIdentity"))
    assert "type: 'SystemAssigned'" in dead and "endpointType: 'StorageBlob'" in dead
    assert "identity: { type: 'SystemAssigned' }" in text, "the topic has its own identity"
    assert "'Microsoft.KeyVault.vaults'" in text and "'Microsoft.Resources.Subscriptions'" in text
    main = strip_comments(MAIN.read_text())
    assert "'${app.outputs.id}/functions/events'" in main, "the function registered in function_app.py"


def test_the_dead_letter_role_is_the_manifests_on_the_container_only() -> None:
    text = strip_comments((INFRA / "app" / "dead-letter.bicep").read_text())
    assert f"'{perms.EVENT_DEAD_LETTER_ROLE.id}'" in text
    for m in re.finditer(r"'Microsoft\.Authorization/roleAssignments@[\w-]+'", text):
        assert re.search(r"scope\s*:\s*container\b", block_after(text, m.end()))
    storage = strip_comments((INFRA / "core" / "storage" / "storage-account.bicep").read_text())
    assert "resource deadLetterContainer" in storage and "publicAccess: 'None'" in storage


def test_the_deployers_event_actions_are_published() -> None:
    assert all(a.lower() in published(False) for a in perms.DEPLOYMENT_EVENT_ACTIONS)
