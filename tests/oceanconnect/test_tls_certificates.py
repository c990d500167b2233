"""Huawei's certificates as shipped: a PEM whose key is password-encrypted, a PKCS#12 bundle,
a CA bundle of several roots; and one line naming the setting for each way they go wrong."""

import datetime as dt

import pytest

from oceanconnect import MemoryStore, PlatformClient, PlatformPermanentError
from simulator.certs import (
    ensure_certificates,
    write_client_cert,
    write_client_p12,
    write_encrypted_client_key,
)
from tests.support.simulator import start_simulator

from .conftest import make_config

PASSWORD = "huawei-key-password-1"


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
