"""upstream/cross-region: a handler on an App Service / Function app in another region."""
import pytest

from tests.factories import NOW, SETTINGS, observation, resource
from watchdog.checks import upstream
from watchdog.collect.sites import from_arm, hosting
from watchdog.models_resource import EventHandler, WebSite

SITE_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/{}"


def site(name, location, *custom):
    return WebSite(SITE_ID.format(name), name, location, (f"{name}.azurewebsites.net", *custom))


def handler(host, hub="chat"):
    return EventHandler(hub=hub, url_redacted=f"https://{host}/api", host=host)


@pytest.mark.parametrize("handler_sites", [
    (site("fn", "westeurope"),),  # the resource's own region
    (),  # the handler runs on no app of the subscription
    None,  # sites unknown (a blind spot says why): nothing said
    (site("fn", ""),),  # no location to compare
])
def test_silent(handler_sites):
    obs = observation(resource(), handlers=(handler("fn.azurewebsites.net"),), handler_sites=handler_sites)
    assert [f for f in upstream.check(obs, SETTINGS, NOW) if f.check == "cross-region"] == []


def test_fires_per_site_naming_regions_and_hubs():
    res = resource()
    handlers = (handler("fn.azurewebsites.net", "chat"), handler("events.contoso.com", "feed"),
                handler("fn.azurewebsites.net", "news"))
    sites = (site("fn", "eastus", "events.contoso.com"),)
    [f] = [f for f in upstream.check(observation(res, handlers=handlers, handler_sites=sites), SETTINGS, NOW)
           if f.check == "cross-region"]
    assert f.subject == SITE_ID.format("fn") and f.severity.name == "WARNING"
    assert f.evidence == {"site": "fn", "site_location": "eastus", "resource_location": "westeurope",
                          "hubs": ["chat", "feed", "news"]}


def test_sites_are_parsed_and_matched_by_any_host_name_case_blind():
    s = from_arm({"id": SITE_ID.format("App"), "name": "App", "location": "West Europe",
                  "properties": {"defaultHostName": "App.azurewebsites.net",
                                 "hostNames": ["app.azurewebsites.net", "Api.Contoso.com"]}})
    assert (s.location, s.host_names) == ("westeurope", ("app.azurewebsites.net", "api.contoso.com"))
    assert hosting([s], ["API.contoso.com"]) == (s,) and hosting([s], ["other.net"]) == ()
