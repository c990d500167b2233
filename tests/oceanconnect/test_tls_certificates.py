"""Huawei's certificates as shipped: a PEM whose key is password-encrypted, a PKCS#12 bundle,
a CA bundle of several roots; and one line naming the setting for each way they go wrong."""

import contextlib
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from oceanconnect import MemoryStore, PlatformClient, PlatformPermanentError
from simulator.certs import (
    ensure_certificates,
    write_client_cert,
    write_client_p12,
    write_encrypted_client_key,
)
from tests.support.certificates import (
    Issued,
    days_from_now,
    make_ca,
    make_server_cert,
    write_bundle,
)
from tests.support.simulator import start_simulator

from .conftest import make_config

PASSWORD = "huawei-key-password-1"

# The helper's control session of a simulator serving a deliberately broken chain skips
# verification (`control_verify=False`); the client under test never does.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def certs(tmp_path):
    return ensure_certificates(tmp_path / "certs", client_cn="iotadmin-demo-app")


@pytest.fixture
def mtls(certs):
    with start_simulator(
        "--quiet", "--require-client-cert", "--cert-dir", str(certs.directory), http=False
    ) as sim:
        yield sim


def https_client(url, **tls):
    return PlatformClient(config=make_config(url, **tls), store=MemoryStore())


def a_device(sim):
    return sim.devices(owner=sim.app_id)[0]["deviceId"]


def platform_calls(sim):
    return [c for c in sim.calls() if c["path"].startswith("/iocm/")]


def ca_of(certs):
    """The simulator's generated CA (it signs our client certificate), as an `Issued`."""
    return Issued(
        x509.load_pem_x509_certificate(certs.ca.read_bytes()),
        serialization.load_pem_private_key(certs.ca_key.read_bytes(), None),
        certs.ca,
        certs.ca_key,
    )


def refused(client, sim):
    with pytest.raises(PlatformPermanentError) as caught:
        client.activation_status(a_device(sim))
    message = str(caught.value)
    assert "\n" not in message
    assert PASSWORD not in message
    return message


def test_an_encrypted_pem_key_with_its_password(certs, mtls):
    key = write_encrypted_client_key(certs, PASSWORD, name="client-key-encrypted.pem")
    assert b"ENCRYPTED" in key.read_bytes()
    client = https_client(
        mtls.url,
        ca_file=str(certs.ca),
        client_cert=str(certs.client_cert),
        client_key=str(key),
        client_cert_password=PASSWORD,
    )
    assert client.activation_status(a_device(mtls)).device_id
    assert PASSWORD not in repr(client.config)


def test_an_encrypted_key_without_or_with_a_wrong_password_names_the_setting(certs, mtls):
    key = write_encrypted_client_key(certs, PASSWORD, name="client-key-encrypted.pem")
    tls = {"ca_file": str(certs.ca), "client_cert": str(certs.client_cert), "client_key": str(key)}
    missing = refused(https_client(mtls.url, **tls), mtls)
    assert "encrypted: set IOT_CLIENT_CERT_PASSWORD" in missing
    wrong = refused(https_client(mtls.url, client_cert_password="nope", **tls), mtls)
    assert "IOT_CLIENT_CERT_PASSWORD does not decrypt" in wrong
    assert platform_calls(mtls) == []


def test_a_pkcs12_bundle_with_its_password(certs, mtls, tmp_path):
    p12 = write_client_p12(certs, PASSWORD, name="client.p12")
    client = https_client(
        mtls.url, ca_file=str(certs.ca), client_p12=str(p12), client_p12_password=PASSWORD
    )
    assert client.activation_status(a_device(mtls)).device_id
    # Nothing decrypted was left behind next to the bundle.
    assert sorted(p.name for p in p12.parent.iterdir() if "p12" in p.name) == ["client.p12"]
    wrong = https_client(
        mtls.url, ca_file=str(certs.ca), client_p12=str(p12), client_p12_password="nope"
    )
    assert "IOT_CLIENT_P12_PASSWORD does not open IOT_CLIENT_P12" in refused(wrong, mtls)


def test_a_key_of_another_certificate_names_the_key_setting(certs, mtls, tmp_path):
    other = ensure_certificates(tmp_path / "other", client_cn="iotadmin-demo-app")
    client = https_client(
        mtls.url,
        ca_file=str(certs.ca),
        client_cert=str(certs.client_cert),
        client_key=str(other.client_key),
    )
    assert "IOT_CLIENT_KEY does not belong to the certificate IOT_CLIENT_CERT" in refused(
        client, mtls
    )


@pytest.mark.parametrize(
    ("shift", "expected"),
    [
        ((-30, -1), "the client certificate IOT_CLIENT_CERT expired on"),
        ((1, 30), "the client certificate IOT_CLIENT_CERT is not valid before"),
    ],
)
def test_an_expired_or_not_yet_valid_client_certificate(certs, mtls, shift, expected):
    now = dt.datetime.now(dt.UTC)
    cert, key = write_client_cert(
        certs,
        name="client-dated",
        common_name="iotadmin-demo-app",
        not_before=now + dt.timedelta(days=shift[0]),
        not_after=now + dt.timedelta(days=shift[1]),
    )
    client = https_client(
        mtls.url, ca_file=str(certs.ca), client_cert=str(cert), client_key=str(key)
    )
    assert expected in refused(client, mtls)


def test_the_ca_file_may_be_a_bundle_with_an_unrelated_root_first(certs, tmp_path):
    unrelated = ensure_certificates(tmp_path / "unrelated", client_cn="x")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(unrelated.ca.read_bytes() + certs.ca.read_bytes())
    with start_simulator("--quiet", "--cert-dir", str(certs.directory), http=False) as sim:
        client = https_client(sim.url, ca_file=str(bundle))
        assert client.activation_status(a_device(sim)).device_id


def test_a_hostname_mismatch_on_an_ip_endpoint_names_iot_verify_hostname(certs):
    with start_simulator(
        "--quiet", "--host", "0.0.0.0", "--cert-dir", str(certs.directory), http=False
    ) as sim:
        url = sim.url.replace("127.0.0.1", "127.0.0.2")
        message = refused(https_client(url, ca_file=str(certs.ca)), sim)
        assert "does not name the IP address" in message
        assert "IOT_VERIFY_HOSTNAME=false" in message


# --- the platform's side: the simulator serves certificates the test made -------------------


@contextlib.contextmanager
def serving(certs, server, *, host="127.0.0.1"):
    """A mutual-TLS simulator presenting `server` (our client certificate still trusted by the
    generated CA). Its control channel skips verification: the chain is broken on purpose."""
    with start_simulator(
        "--quiet",
        "--host",
        host,
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
        yield sim


def mtls_client(sim, certs, ca_file, url=None):
    return https_client(
        url or sim.url,
        ca_file=str(ca_file),
        client_cert=str(certs.client_cert),
        client_key=str(certs.client_key),
    )


def test_an_expired_ca_names_iot_ca_file_and_its_date(certs, tmp_path):
    root = make_ca(tmp_path, "expired", not_before=days_from_now(-400), not_after=days_from_now(-2))
    server = make_server_cert(tmp_path, "server", ca=root)
    with serving(certs, server) as sim:
        message = refused(mtls_client(sim, certs, root.cert_path), sim)
        assert platform_calls(sim) == []
    assert f"the CA certificate in IOT_CA_FILE={root.cert_path} expired on " in message
    assert f"{root.cert.not_valid_after_utc:%Y-%m-%d}" in message
    assert "update IOT_CA_FILE" in message


def test_a_ca_not_yet_valid_names_iot_ca_file(certs, tmp_path):
    root = make_ca(tmp_path, "future", not_before=days_from_now(2), not_after=days_from_now(400))
    server = make_server_cert(tmp_path, "server", ca=root)
    with serving(certs, server) as sim:
        message = refused(mtls_client(sim, certs, root.cert_path), sim)
        assert platform_calls(sim) == []
    assert f"IOT_CA_FILE={root.cert_path} is not valid before " in message
    assert "check this server's clock or update IOT_CA_FILE" in message


def test_a_bundle_whose_every_root_has_expired_says_so(certs, tmp_path):
    signer = make_ca(tmp_path, "old-a", not_before=days_from_now(-400), not_after=days_from_now(-9))
    other = make_ca(tmp_path, "old-b", not_before=days_from_now(-400), not_after=days_from_now(-3))
    bundle = write_bundle(tmp_path / "bundle.pem", signer, other)
    server = make_server_cert(tmp_path, "server", ca=signer)
    with serving(certs, server) as sim:
        message = refused(mtls_client(sim, certs, bundle), sim)
        assert platform_calls(sim) == []
    assert f"every CA certificate in IOT_CA_FILE={bundle} (2 roots) has expired" in message
    assert f"the last on {other.cert.not_valid_after_utc:%Y-%m-%d}" in message


def test_an_expired_root_among_current_ones_fails_the_handshake_naming_iot_ca_file(certs, tmp_path):
    # The bundle passes the check (one root is current), but the platform chains to the
    # expired one: OpenSSL refuses it during the real handshake.
    signer = make_ca(tmp_path, "old", not_before=days_from_now(-400), not_after=days_from_now(-2))
    current = make_ca(tmp_path, "current", not_before=days_from_now(-1), not_after=days_from_now(9))
    bundle = write_bundle(tmp_path / "bundle.pem", current, signer)
    server = make_server_cert(tmp_path, "server", ca=signer)
    with serving(certs, server) as sim:
        message = refused(mtls_client(sim, certs, bundle), sim)
        assert platform_calls(sim) == []
    assert "the CA in IOT_CA_FILE that signed it, has expired (update IOT_CA_FILE" in message


def test_an_expired_platform_certificate_fails_the_handshake_with_a_clear_line(certs, tmp_path):
    server = make_server_cert(
        tmp_path,
        "server",
        ca=ca_of(certs),
        not_before=days_from_now(-60),
        not_after=days_from_now(-1),
    )
    with serving(certs, server) as sim:
        message = refused(mtls_client(sim, certs, certs.ca), sim)
        assert platform_calls(sim) == []
    assert "the platform's certificate, or the CA in IOT_CA_FILE that signed it, has expired" in (
        message
    )


def test_a_certificate_for_another_host_names_iot_verify_hostname(certs, tmp_path):
    server = make_server_cert(
        tmp_path, "server", ca=ca_of(certs), dns_names=("platform.example.test",), ip_addresses=()
    )
    with serving(certs, server) as sim:
        by_name = sim.url.replace("127.0.0.1", "localhost")
        message = refused(mtls_client(sim, certs, certs.ca, url=by_name), sim)
        assert platform_calls(sim) == []
        relaxed = https_client(
            by_name,
            ca_file=str(certs.ca),
            client_cert=str(certs.client_cert),
            client_key=str(certs.client_key),
            verify_hostname=False,
        )
        assert relaxed.activation_status(a_device(sim)).device_id
    assert "does not name the host in IOT_PLATFORM_URL" in message
    assert "IOT_VERIFY_HOSTNAME=false" in message
