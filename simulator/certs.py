"""The simulator's private CA, its server certificate and a client certificate for mutual TLS.

Also the forms Huawei ships client certificates in (a PEM whose key is password-encrypted, a
PKCS#12 bundle) and, for tests, client certificates that are expired or not yet valid."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_DNS_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1", "::1")
VALID_DAYS = 825
# Regenerate well before expiry so a reused set never dies in the middle of a demo.
MIN_REMAINING = dt.timedelta(days=7)


@dataclass(frozen=True)
class CertPaths:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client-key.pem"

    def all(self) -> tuple[Path, ...]:
        return (
            self.ca,
            self.ca_key,
            self.server_cert,
            self.server_key,
            self.client_cert,
            self.client_key,
        )


def ensure_certificates(directory: str | os.PathLike[str], client_cn: str) -> CertPaths:
    """Reuse the certificates in `directory` when present and valid, else write a fresh set."""
    paths = CertPaths(Path(directory))
    paths.directory.mkdir(parents=True, exist_ok=True)
    if _existing_set_is_valid(paths):
        return paths
    _generate(paths, client_cn)
    return paths


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _existing_set_is_valid(paths: CertPaths) -> bool:
    if not all(p.is_file() for p in paths.all()):
        return False
    try:
        ca = x509.load_pem_x509_certificate(paths.ca.read_bytes())
        server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        client = x509.load_pem_x509_certificate(paths.client_cert.read_bytes())
        server_key = serialization.load_pem_private_key(paths.server_key.read_bytes(), None)
        client_key = serialization.load_pem_private_key(paths.client_key.read_bytes(), None)
        for cert in (ca, server, client):
            if cert.not_valid_after_utc - _now() < MIN_REMAINING:
                return False
            if cert.not_valid_before_utc > _now():
                return False
        server.verify_directly_issued_by(ca)
        client.verify_directly_issued_by(ca)
        if server.public_key() != server_key.public_key():
            return False
        if client.public_key() != client_key.public_key():
            return False
        san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(san.get_values_for_type(x509.DNSName))
        ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        return set(SERVER_DNS_NAMES) <= names and set(SERVER_IPS) <= ips
    except Exception:
        # Any unreadable or mismatched file means: start over with a fresh set.
        return False


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iotadmin platform simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def issue_leaf(
    *,
    common_name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    san: x509.SubjectAlternativeName | None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_root(
    common_name: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed root valid from `not_before` to `not_after` (tests make expired ones)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca_cert, ca_key


def _generate(paths: CertPaths, client_cn: str) -> None:
    now = _now()
    ca_cert, ca_key = make_root(
        "iotadmin simulator test CA",
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(days=VALID_DAYS + 30),
    )
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in SERVER_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    )
    server_cert, server_key = issue_leaf(
        common_name="localhost",
        ca_cert=ca_cert,
        ca_key=ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=san,
    )
    client_cert, client_key = issue_leaf(
        common_name=client_cn,
        ca_cert=ca_cert,
        ca_key=ca_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        san=None,
    )
    _write_key(paths.ca_key, ca_key)
    _write_key(paths.server_key, server_key)
    _write_key(paths.client_key, client_key)
    _write_cert(paths.server_cert, server_cert)
    _write_cert(paths.client_cert, client_cert)
    # The CA goes last: a reader that sees ca.pem sees a complete set.
    _write_cert(paths.ca, ca_cert)


# --- the forms Huawei ships client certificates in, and broken ones (tests) -----------------


def _load_ca(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    return ca_cert, ca_key


def _client_pair(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(paths.client_cert.read_bytes())
    key = serialization.load_pem_private_key(paths.client_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def write_encrypted_client_key(paths: CertPaths, password: str, *, name: str) -> Path:
    """The client key (of client.pem) encrypted with `password`, as Huawei ships its PEM."""
    _cert, key = _client_pair(paths)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path = paths.directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def write_client_p12(paths: CertPaths, password: str, *, name: str) -> Path:
    """client.pem and its key (and the CA) as one PKCS#12 bundle protected by `password`."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert, key = _client_pair(paths)
    ca_cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    data = pkcs12.serialize_key_and_certificates(
        b"client",
        key,
        cert,
        [ca_cert],
        serialization.BestAvailableEncryption(password.encode()),
    )
    path = paths.directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def write_client_cert(
    paths: CertPaths,
    *,
    name: str,
    common_name: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[Path, Path]:
    """A client certificate signed by the simulator's CA with the given validity (tests:
    expired or not yet valid); returns (certificate, key) paths."""
    ca_cert, ca_key = _load_ca(paths)
    cert, key = issue_leaf(
        common_name=common_name,
        ca_cert=ca_cert,
        ca_key=ca_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        san=None,
        not_before=not_before,
        not_after=not_after,
    )
    cert_path = paths.directory / f"{name}.pem"
    key_path = paths.directory / f"{name}-key.pem"
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert_path, key_path
