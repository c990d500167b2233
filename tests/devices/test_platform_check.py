"""`manage.py platform_check` against the simulator over HTTPS with mutual TLS."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devices.platform_wiring import reset_client
from simulator.certs import ensure_certificates, write_encrypted_client_key
from tests.support.simulator import start_simulator

pytestmark = pytest.mark.django_db

PASSWORD = "check-key-password"


@pytest.fixture
def https_sim(tmp_path, settings, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    certs = ensure_certificates(tmp_path / "certs", client_cn="iotadmin-demo-app")
    key = write_encrypted_client_key(certs, PASSWORD, name="client-key-encrypted.pem")
    with start_simulator(
        "--quiet", "--require-client-cert", "--cert-dir", str(certs.directory), http=False
    ) as sim:
        settings.IOT_PLATFORM_URL = sim.url
        settings.IOT_APP_ID = sim.app_id
        settings.IOT_APP_SECRET = sim.app_secret
        settings.IOT_CA_FILE = str(certs.ca)
        settings.IOT_CLIENT_CERT = str(certs.client_cert)
        settings.IOT_CLIENT_KEY = str(key)
        settings.IOT_CLIENT_CERT_PASSWORD = PASSWORD
        settings.IOT_STORE_PREFIX = f"test:{tmp_path.name}:"
        reset_client()
        yield sim
    reset_client()


def run():
    out = StringIO()
    call_command("platform_check", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_prints_certificates_token_and_flow_limit_never_a_secret(https_sim, settings):
    out = run()

    assert "Server certificate: " in out and "CN=localhost" in out
    assert "Client certificate: " in out and "CN=iotadmin-demo-app" in out
    assert out.count("days left") == 2
    assert "access token lifetime 3600 s" in out
    assert "Flow limit in use: 90 calls per 61 s" in out
    for secret in (PASSWORD, settings.IOT_APP_SECRET):
        assert secret not in out
    paths = [c["path"] for c in https_sim.calls()]
    assert paths == ["/iocm/app/sec/v1.1.0/login", "/iocm/app/dm/v1.4.0/devices"]


def test_fails_with_the_one_line_message_naming_the_setting(https_sim, settings):
    settings.IOT_CLIENT_CERT_PASSWORD = "wrong"

    with pytest.raises(CommandError) as failed:
        run()

    message = str(failed.value)
    assert "IOT_CLIENT_CERT_PASSWORD does not decrypt" in message
    assert "\n" not in message
    assert "wrong" not in message.replace("IOT_CLIENT_CERT_PASSWORD", "")
