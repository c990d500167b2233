"""HTTPS with the simulator's generated CA, client certificates and the hostname setting."""

import pytest

from oceanconnect import MemoryStore, PlatformClient, PlatformPermanentError, catalogue
from simulator.certs import ensure_certificates
from tests.support.simulator import start_simulator

from .conftest import make_config


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch):
    # The simulator fixture's own requests.Session would take these over its CA file.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cert_dir(tmp_path):
    # Written before the simulator starts, so its health check can trust the CA at once.
    directory = tmp_path / "certs"
    ensure_certificates(directory, client_cn="iotadmin-demo-app")
    return directory


@pytest.fixture
def other_ca(tmp_path):
    directory = tmp_path / "other"
    return ensure_certificates(directory, client_cn="iotadmin-demo-app")


def https_client(url, **tls):
    return PlatformClient(config=make_config(url, **tls), store=MemoryStore())


def platform_calls(sim):
    return [c for c in sim.calls() if c["path"].startswith("/iocm/")]


def a_device(sim):
    return sim.devices(owner=sim.app_id)[0]["deviceId"]


def test_https_with_the_generated_ca_works(cert_dir):
    with start_simulator("--quiet", "--cert-dir", str(cert_dir), http=False) as sim:
        client = https_client(sim.url, ca_file=str(sim.ca_file))
        assert client.activation_status(a_device(sim)).device_id
        assert [c["path"] for c in platform_calls(sim)] == [
            "/iocm/app/sec/v1.1.0/login",
            f"/iocm/app/reg/v1.1.0/deviceCredentials/{a_device(sim)}",
        ]


def test_a_wrong_ca_fails_at_once_with_a_clear_error(cert_dir, other_ca):
    with start_simulator("--quiet", "--cert-dir", str(cert_dir), http=False) as sim:
        client = https_client(sim.url, ca_file=str(other_ca.ca))
        with pytest.raises(PlatformPermanentError) as caught:
            client.activation_status(a_device(sim))
        assert "not signed by IOT_CA_FILE" in str(caught.value)
        assert caught.value.handling_text == catalogue.TLS_HANDLING
        assert platform_calls(sim) == []


def test_an_unreadable_ca_file_is_a_clear_permanent_error(cert_dir, tmp_path):
    with start_simulator("--quiet", "--cert-dir", str(cert_dir), http=False) as sim:
        client = https_client(sim.url, ca_file=str(tmp_path / "missing.pem"))
        with pytest.raises(PlatformPermanentError, match="IOT_CA_FILE"):
            client.activation_status(a_device(sim))
        assert platform_calls(sim) == []


def test_hostname_check_can_be_turned_off_but_the_chain_is_still_verified(cert_dir, other_ca):
    # Bound to every loopback address: 127.0.0.2 is not a name in the server certificate.
    with start_simulator(
        "--quiet", "--host", "0.0.0.0", "--cert-dir", str(cert_dir), http=False
    ) as sim:
        url = sim.url.replace("127.0.0.1", "127.0.0.2")
        device = a_device(sim)
        strict = https_client(url, ca_file=str(sim.ca_file))
        with pytest.raises(PlatformPermanentError, match="TLS"):
            strict.activation_status(device)
        relaxed = https_client(url, ca_file=str(sim.ca_file), verify_hostname=False)
        assert relaxed.activation_status(device).device_id == device
        wrong_chain = https_client(url, ca_file=str(other_ca.ca), verify_hostname=False)
        with pytest.raises(PlatformPermanentError, match="not signed by IOT_CA_FILE"):
            wrong_chain.activation_status(device)


def test_required_client_certificate(cert_dir, other_ca):
    with start_simulator(
        "--quiet", "--require-client-cert", "--cert-dir", str(cert_dir), http=False
    ) as sim:
        device = a_device(sim)
        right = https_client(
            sim.url,
            ca_file=str(sim.ca_file),
            client_cert=str(sim.client_cert),
            client_key=str(sim.client_key),
        )
        assert right.activation_status(device).device_id == device
        before = len(platform_calls(sim))

        for wrong in (
            https_client(sim.url, ca_file=str(sim.ca_file)),  # no certificate at all
            https_client(
                sim.url,
                ca_file=str(sim.ca_file),
                client_cert=str(other_ca.client_cert),
                client_key=str(other_ca.client_key),
            ),
        ):
            with pytest.raises(PlatformPermanentError) as caught:
                wrong.refresh_device_key(device, node_id="862177041314827")
            assert not caught.value.retryable
            assert caught.value.handling_text == catalogue.TLS_HANDLING
            assert "certificate" in str(caught.value)
        assert len(platform_calls(sim)) == before  # nothing reached the platform, no retries


def test_simulator_bind_uses_the_clients_ca_and_client_certificate(cert_dir):
    with start_simulator(
        "--quiet", "--require-client-cert", "--cert-dir", str(cert_dir), http=False
    ) as sim:
        tls = {
            "ca_file": str(sim.ca_file),
            "client_cert": str(sim.client_cert),
            "client_key": str(sim.client_key),
        }
        client = https_client(sim.url, **tls)
        binding = client.simulator_bind(node_id="862177041314827", verify_code="ABCD1234")
        assert (binding.bound, binding.reason) == (False, "no pending binding for this nodeId")
        without_certificate = https_client(sim.url, ca_file=str(sim.ca_file))
        with pytest.raises(PlatformPermanentError) as caught:
            without_certificate.simulator_bind(node_id="862177041314827", verify_code="ABCD1234")
        assert caught.value.handling_text == catalogue.TLS_HANDLING
