import pytest

from watchdog.connstr import HostKind, classify_host, parse
from watchdog.models import Sensitive

KEY = "PLANTEDkey0123456789abcdefABCDEF+/xyz=="
HOST = "wps-prod.webpubsub.azure.com"


@pytest.mark.parametrize(
    "text, host, port, version",
    [
        (f"Endpoint=https://{HOST};AccessKey={KEY};Version=1.0;", HOST, None, "1.0"),
        (f"Endpoint=https://{HOST};AccessKey={KEY};Version=1.0", HOST, None, "1.0"),
        (f"  endpoint = https://{HOST} ; accesskey = {KEY} ; version=1.0 ;  ", HOST, None, "1.0"),
        (f"AccessKey={KEY};Version=1.0;Endpoint=https://WPS-Prod.WebPubSub.Azure.com/;", HOST, None, "1.0"),
        (f"ENDPOINT=https://{HOST};ACCESSKEY={KEY}", HOST, None, None),
        (f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};Version=1.0;", "localhost", 8080, "1.0"),
        (f"Endpoint=https://{HOST}:8443;AccessKey={KEY};", HOST, 8443, None),
        (f"Endpoint=https://{HOST}:8443;Port=9443;AccessKey={KEY};", HOST, 9443, None),
        (f";;Endpoint=https://{HOST};;AccessKey={KEY};;", HOST, None, None),
    ],
)
def test_parse_accepts_variants(text, host, port, version):
    cs = parse(text)
    assert cs.host == host
    assert cs.port == port
    assert cs.version == version
    assert cs.access_key == Sensitive(KEY)
    assert isinstance(cs.access_key, Sensitive)


def test_key_with_equals_padding_is_kept_whole():
    assert parse(f"Endpoint=https://{HOST};AccessKey=abc==;").access_key.reveal() == "abc=="


def test_first_occurrence_wins_like_the_sdk():
    cs = parse(f"Endpoint=https://{HOST};AccessKey={KEY};AccessKey=other;Endpoint=https://x.webpubsub.azure.com")
    assert cs.access_key.reveal() == KEY
    assert cs.host == HOST


def test_endpoint_property_includes_port():
    assert parse(f"Endpoint=http://localhost;Port=8080;AccessKey={KEY}").endpoint == "http://localhost:8080"
    assert parse(f"Endpoint=https://{HOST};AccessKey={KEY}").endpoint == f"https://{HOST}"


def test_repr_never_shows_the_key():
    cs = parse(f"Endpoint=https://{HOST};AccessKey={KEY};")
    assert KEY not in repr(cs) and KEY not in str(cs)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        (KEY.rstrip("="), "segment 1"),
        (f"Endpoint=https://{HOST};{KEY.rstrip('=')}", "segment 2"),
        (f"AccessKey={KEY};Version=1.0", "no Endpoint"),
        (f"Endpoint=https://{HOST};Version=1.0", "no AccessKey"),
        (f"Endpoint=https://{HOST};AccessKey=  ;", "no AccessKey"),
        (f"Endpoint={HOST};AccessKey={KEY}", "http(s) URL"),
        (f"Endpoint=ftp://{HOST};AccessKey={KEY}", "http(s) URL"),
        (f"Endpoint=https://{HOST}?code={KEY};AccessKey={KEY}", "query string"),
        (f"Endpoint=https://{HOST};Port={KEY};AccessKey={KEY}", "Port is not a number"),
        (f"Endpoint=https://{HOST};Port=70000;AccessKey={KEY}", "out of range"),
        (f"Endpoint=https://{HOST}:99999;AccessKey={KEY}", "not a valid URL"),
        (f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=x;SharedAccessKey={KEY}", "no AccessKey"),
    ],
)
def test_parse_errors_name_the_problem_never_the_key(text, message):
    with pytest.raises(ValueError) as raised:
        parse(text)
    assert message in str(raised.value)
    assert KEY.rstrip("=") not in str(raised.value)
    assert raised.value.__cause__ is None  # no chained exception carrying the text


@pytest.mark.parametrize(
    "host, kind",
    [
        (HOST, HostKind.SAME_RESOURCE),
        ("WPS-PROD.webpubsub.azure.com.", HostKind.SAME_RESOURCE),
        ("wps-staging.webpubsub.azure.com", HostKind.OTHER_WEBPUBSUB),
        ("chat.service.signalr.net", HostKind.SIGNALR),
        ("ns.servicebus.windows.net", HostKind.SERVICEBUS),
        ("localhost", HostKind.OTHER),
        ("webpubsub.azure.com.evil.example", HostKind.OTHER),
    ],
)
def test_classify_host(host, kind):
    assert classify_host(host, HOST) is kind
