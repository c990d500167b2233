"""Certificates a test needs the simulator to serve: a CA and server certificates with any
validity window and names (expired, not yet valid, issued for another host), written as PEM.

The simulator serves them with `--server-cert/--server-key` (its generated set in `--cert-dir`
still verifies client certificates); see tests/oceanconnect/test_tls_certificates.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from simulator.certs import issue_leaf, make_root


def days_from_now(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, in memory and as PEM files."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{name}.pem"
    key_path = directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert, key, cert_path, key_path)


def make_ca(
    directory: Path, name: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> Issued:
    """A self-signed root valid from `not_before` to `not_after`."""
    cert, key = make_root(f"{name} root", not_before=not_before, not_after=not_after)
    return _write(directory, name, cert, key)


def make_server_cert(
    directory: Path,
    name: str,
    *,
    ca: Issued,
    dns_names: tuple[str, ...] = ("localhost",),
    ip_addresses: tuple[str, ...] = ("127.0.0.1",),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A server certificate signed by `ca` for the given names (valid for a year by default)."""
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in dns_names]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    )
    cert, key = issue_leaf(
        common_name=dns_names[0] if dns_names else name,
        ca_cert=ca.cert,
        ca_key=ca.key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=san,
        not_before=not_before or days_from_now(-1),
        not_after=not_after or days_from_now(365),
    )
    return _write(directory, name, cert, key)


def write_bundle(path: Path, *roots: Issued) -> Path:
    """Several roots in one PEM file, as Huawei asks IOT_CA_FILE to be."""
    path.write_bytes(b"".join(r.cert.public_bytes(serialization.Encoding.PEM) for r in roots))
    return path
