"""`manage.py platform_check` against the simulator over HTTPS with mutual TLS."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devices.platform_wiring import reset_client
from simulator.certs import ensure_certificates, write_encrypted_client_key
from tests.support.certificates import days_from_now, make_ca, make_server_cert, write_bundle
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
        settings.IOT_STORE_PREFIX = f"test:{uuid.uuid4().hex}:"
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


@pytest.fixture
def serving_expired(tmp_path, settings, monkeypatch):
    """A mutual-TLS simulator whose certificate chains to a root that expired two days ago."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    certs = ensure_certificates(tmp_path / "certs", client_cn="iotadmin-demo-app")
    root = make_ca(tmp_path, "old", not_before=days_from_now(-400), not_after=days_from_now(-2))
    server = make_server_cert(tmp_path, "server", ca=root)
    with start_simulator(
        "--quiet",
        "--require-client-cert",
        "--cert-dir",
        str(certs.directory),
        "--server-cert",
        str(server.cert_path),
        "--server-key",
        str(server.key_path),
        http=False,
        control_verify=False,
    ) as sim:
        settings.IOT_PLATFORM_URL = sim.url
        settings.IOT_APP_ID = sim.app_id
        settings.IOT_APP_SECRET = sim.app_secret
        settings.IOT_CA_FILE = str(root.cert_path)
        settings.IOT_CLIENT_CERT = str(certs.client_cert)
        settings.IOT_CLIENT_KEY = str(certs.client_key)
        settings.IOT_CLIENT_CERT_PASSWORD = ""
        settings.IOT_STORE_PREFIX = f"test:{uuid.uuid4().hex}:"
        reset_client()
        yield sim, root, certs
    reset_client()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_an_expired_ca_file_fails_with_one_line_naming_iot_ca_file(serving_expired, settings):
    sim, root, _certs = serving_expired

    with pytest.raises(CommandError) as failed:
        run()

    message = str(failed.value)
    assert message.startswith(f"TLS: the CA certificate in IOT_CA_FILE={root.cert_path} expired on")
    assert "update IOT_CA_FILE" in message
    assert "\n" not in message
    assert [c for c in sim.calls() if c["path"].startswith("/iocm/")] == []


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_current_ca_beside_the_expired_one_fails_the_real_handshake(serving_expired, settings):
    sim, root, certs = serving_expired
    bundle = write_bundle(root.cert_path.parent / "bundle.pem", root)
    bundle.write_bytes(certs.ca.read_bytes() + bundle.read_bytes())  # a current root first
    settings.IOT_CA_FILE = str(bundle)
    reset_client()

    with pytest.raises(CommandError) as failed:
        run()

    message = str(failed.value)
    assert "TLS with the platform at" in message
    assert "the CA in IOT_CA_FILE that signed it, has expired (update IOT_CA_FILE" in message
    assert "\n" not in message
    assert [c for c in sim.calls() if c["path"].startswith("/iocm/")] == []


@pytest.mark.parametrize("form", ["pem", "p12"])
def test_the_key_password_can_come_from_a_file(tmp_path, form):
    """IOT_CLIENT_CERT_PASSWORD_FILE / IOT_CLIENT_P12_PASSWORD_FILE: settings read in a fresh
    process, and the TLS context built from them opens the encrypted key."""
    import os
    import subprocess
    import sys

    from simulator.certs import write_client_p12
    from tests.support.simulator import REPO_ROOT

    certs = ensure_certificates(tmp_path / "certs", client_cn="iotadmin-demo-app")
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "IOT_CA_FILE": str(certs.ca)}
    for name in list(env):
        if name.startswith("IOT_CLIENT_"):
            del env[name]
    if form == "pem":
        key = write_encrypted_client_key(certs, PASSWORD, name="client-key-encrypted.pem")
        env |= {
            "IOT_CLIENT_CERT": str(certs.client_cert),
            "IOT_CLIENT_KEY": str(key),
            "IOT_CLIENT_CERT_PASSWORD_FILE": str(password_file),
        }
    else:
        p12 = write_client_p12(certs, PASSWORD, name="client.p12")
        env |= {"IOT_CLIENT_P12": str(p12), "IOT_CLIENT_P12_PASSWORD_FILE": str(password_file)}
    script = (
        "import iotadmin.settings as s\n"
        "from oceanconnect import PlatformConfig\n"
        "from oceanconnect.transport import build_ssl_context\n"
        "build_ssl_context(PlatformConfig.from_settings(s))\n"
        "print('key opened')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "key opened"
    assert PASSWORD not in done.stdout + done.stderr
