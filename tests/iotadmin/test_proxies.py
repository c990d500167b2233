"""Client addresses and request ids come from forwarded headers only via trusted proxies."""

import pytest

from iotadmin.middleware import client_address

pytestmark = pytest.mark.django_db


@pytest.fixture
def proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]


def test_forwarded_for_is_ignored_from_an_untrusted_peer(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address(peer="203.0.113.5", forwarded_for="198.51.100.1") == "203.0.113.5"


def test_forwarded_for_is_used_from_a_trusted_proxy(proxy):
    assert client_address(peer="10.0.0.2", forwarded_for="198.51.100.1") == "198.51.100.1"


def test_a_client_cannot_prepend_a_forged_hop(proxy):
    forged = "1.2.3.4, 198.51.100.1"
    assert client_address(peer="10.0.0.2", forwarded_for=forged) == "198.51.100.1"


def test_malformed_forwarded_for_keeps_the_peer(proxy):
    assert client_address(peer="10.0.0.2", forwarded_for="not-an-ip") == "10.0.0.2"


def test_request_id_from_an_untrusted_client_is_replaced(client, settings):
    settings.TRUSTED_PROXIES = []
    response = client.get("/login/", HTTP_X_REQUEST_ID="client-chosen-id")
    assert response["X-Request-ID"] != "client-chosen-id"


def test_request_id_from_a_trusted_proxy_is_kept_when_well_formed(client, proxy):
    ok = client.get("/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_REQUEST_ID="proxy-id-1")
    bad = client.get("/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_REQUEST_ID="bad id\n<x>")
    assert ok["X-Request-ID"] == "proxy-id-1"
    assert bad["X-Request-ID"] != "bad id\n<x>"
    assert len(bad["X-Request-ID"]) == 32
