"""HTTPS by default with a generated CA; optional client-certificate requirement."""

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.simulator.helpers import DEVICE_LIST, Client
from tests.support.simulator import start_simulator


def test_https_with_the_generated_ca_and_reuse_of_the_certificates(tmp_path):
    cert_dir = tmp_path / "certs"
    with start_simulator("--cert-dir", str(cert_dir), "--devices", "5", http=False) as private:
        assert private.url.startswith("https://127.0.0.1:")
        for name in ("ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"):
            assert (cert_dir / name).is_file()
        assert (cert_dir / "server-key.pem").stat().st_mode & 0o077 == 0
        client = Client(private)  # private.session trusts ca.pem, hostname checked
        assert client.call("GET", DEVICE_LIST).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(private.url + "/simulator/health", timeout=5)  # system CAs only
        localhost = private.url.replace("127.0.0.1", "localhost")
        assert requests.get(localhost + "/simulator/health", verify=private.ca_file).ok
        ca_before = (cert_dir / "ca.pem").read_bytes()
    with start_simulator("--cert-dir", str(cert_dir), "--devices", "5", http=False):
        assert (cert_dir / "ca.pem").read_bytes() == ca_before


def test_invalid_certificates_are_replaced(tmp_path):
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    for name in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client.pem"):
        (cert_dir / name).write_text("garbage")
    (cert_dir / "client-key.pem").write_text("garbage")
    with start_simulator("--cert-dir", str(cert_dir), "--devices", "5", http=False) as private:
        assert private.health()["ok"] is True
        assert b"BEGIN CERTIFICATE" in Path(private.ca_file).read_bytes()


def test_client_certificate_required(tmp_path):
    with start_simulator(
        "--require-client-cert", "--devices", "5", "--quiet", http=False
    ) as private:
        # private.session presents client.pem; without it the handshake is refused.
        assert private.health()["ok"] is True
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(private.url + "/simulator/health", verify=private.ca_file, timeout=5)
        stranger = _self_signed_client(tmp_path)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(
                private.url + "/simulator/health",
                verify=private.ca_file,
                cert=stranger,
                timeout=5,
            )
        assert Client(private).call("GET", DEVICE_LIST).status_code == 200
        assert private.process.poll() is None  # refused handshakes do not hurt the server


def _self_signed_client(tmp_path):
    """A client certificate the simulator's CA did not sign."""
    from simulator.certs import ensure_certificates

    other = ensure_certificates(tmp_path / "other-ca", client_cn="stranger")
    return (str(other.client_cert), str(other.client_key))


def test_bind_cli_over_https(sim, tmp_path):
    with start_simulator("--devices", "20", "--quiet", http=False) as private:
        device = private.devices(status="OFFLINE", owner=private.app_id, nbiot=False, limit=1)[0]
        client = Client(private)
        code = client.refresh_key(device["deviceId"], {"nodeId": "SER-CLI-1"}).json()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "simulator",
                "bind",
                "--url",
                private.url,
                "--ca-file",
                str(private.ca_file),
                "SER-CLI-1",
                code["verifyCode"],
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert device["deviceId"] in done.stdout
        assert code["verifyCode"] not in done.stdout + done.stderr
        assert private.device(device["deviceId"])["status"] == "ONLINE"
        wrong = subprocess.run(
            [
                sys.executable,
                "-m",
                "simulator",
                "bind",
                "--url",
                private.url,
                "--ca-file",
                str(private.ca_file),
                "SER-CLI-1",
                "WRONG",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert wrong.returncode == 1
        assert "no pending binding" in wrong.stderr
