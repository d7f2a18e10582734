"""network/*: reachability from the resource's own body (public access, private endpoints, ACLs)."""
import pytest

from tests.factories import NOW, SETTINGS, observation, resource
from watchdog.checks import network
from watchdog.models import Severity
from watchdog.models_resource import NetworkAcls, PrivateEndpoint

ALL = ("ClientConnection", "ServerConnection", "RESTAPI", "Trace")


def pe(**states):
    return tuple(PrivateEndpoint(n, s) for n, s in states.items())


@pytest.mark.parametrize(
    "public, endpoints, acls, expected",
    [
        ("Enabled", (), None, []),  # no ACLs in the body: nothing to say about them
        ("Enabled", (), NetworkAcls("Deny", ALL), []),  # Azure's default: deny unless allowed, all allowed
        ("Disabled", pe(a="Approved"), NetworkAcls("Deny", ()), []),  # private only, and approved
        ("Disabled", (), None, [("unreachable", Severity.CRITICAL)]),
        ("Disabled", pe(a="Rejected"), None,
         [("unreachable", Severity.CRITICAL), ("private-endpoint-pending", Severity.WARNING)]),
        ("Disabled", pe(a="Approved", b="Pending"), None, [("private-endpoint-pending", Severity.WARNING)]),
        ("Disabled", pe(a="Disconnected"), None, [("unreachable", Severity.CRITICAL)]),  # not pending: gone
        ("Enabled", (), NetworkAcls("Deny", ("ServerConnection", "RESTAPI")), [("acl-denies", Severity.WARNING)]),
        ("Enabled", (), NetworkAcls("Allow", (), ("RESTAPI",)), [("acl-denies", Severity.WARNING)]),
        ("Enabled", (), NetworkAcls("Allow", (), ("Trace",)), []),  # live trace only: apps unaffected
        ("Enabled", (), NetworkAcls("Deny", ("ClientConnection", "ServerConnection", "RESTAPI")), []),
        ("Disabled", pe(a="Approved"), NetworkAcls("Deny", ()), []),  # ACLs of a closed public side: moot
    ],
)
def test_network(public, endpoints, acls, expected):
    res = resource(public_network_access=public, private_endpoints=endpoints, network_acls=acls)
    assert [(f.check, f.severity) for f in network.check(observation(res), SETTINGS, NOW)] == expected


def test_acl_finding_names_the_denied_types_and_each_pending_endpoint_is_its_own_subject():
    res = resource(network_acls=NetworkAcls("Deny", ("ClientConnection",)))
    [f] = network.check(observation(res), SETTINGS, NOW)
    assert f.evidence["denied"] == ["ServerConnection", "RESTAPI"] and "ServerConnection, RESTAPI" in f.summary
    res = resource(public_network_access="Disabled", private_endpoints=pe(a="Pending", b="Rejected"))
    subjects = [f.subject for f in network.check(observation(res), SETTINGS, NOW) if f.check != "unreachable"]
    assert subjects == [f"{res.id}/privateEndpointConnections/a", f"{res.id}/privateEndpointConnections/b"]
