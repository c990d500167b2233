"""The process's one requests.Session, with TLS set up exactly as configured.

The CA bundle, the client certificate and the hostname check go into one ssl.SSLContext.
With IOT_VERIFY_HOSTNAME off the chain is still verified against the CA; only the name
check is skipped (test CAs on platforms are often issued for another name). IOT_CA_FILE may be a
bundle of several roots. The client certificate comes as PEM (its key possibly encrypted with
IOT_CLIENT_CERT_PASSWORD, decrypted by OpenSSL in memory) or as PKCS#12 (IOT_CLIENT_P12, loaded
through an anonymous in-memory file: see `_load_p12_client`); no decrypted key touches the disk.
Each configuration problem is one line naming the setting to change.
"""

import os
import secrets
import socket
import ssl
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from requests.adapters import HTTPAdapter

from .config import PlatformConfig


class TlsConfigurationError(Exception):
    """The configured CA, certificate or key cannot be used (a message without secrets)."""


class _PasswordNeeded(Exception):
    """OpenSSL asked for the key's password and none is configured."""


def _no_password() -> bytes:
    # Without a callable OpenSSL would prompt on the terminal for an encrypted key.
    raise _PasswordNeeded


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _check_validity(cert: x509.Certificate, *, what: str, setting: str) -> None:
    now = datetime.now(UTC)
    if cert.not_valid_after_utc < now:
        raise TlsConfigurationError(
            f"the {what} {setting} expired on {_day(cert.not_valid_after_utc)}: "
            f"install a current one and update {setting}"
        )
    if cert.not_valid_before_utc > now:
        raise TlsConfigurationError(
            f"the {what} {setting} is not valid before {_day(cert.not_valid_before_utc)}: "
            f"check this server's clock or update {setting}"
        )


def _load_ca_bundle(context: ssl.SSLContext, config: PlatformConfig) -> None:
    """IOT_CA_FILE may hold several roots (Huawei's own and public ones), in any order."""
    try:
        with open(config.ca_file, "rb") as fh:
            data = fh.read()
        certs = x509.load_pem_x509_certificates(data)
        context.load_verify_locations(cafile=config.ca_file)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise TlsConfigurationError(
            f"the CA file IOT_CA_FILE={config.ca_file} cannot be read as PEM ({type(exc).__name__})"
        ) from None
    now = datetime.now(UTC)
    if any(cert.not_valid_before_utc <= now <= cert.not_valid_after_utc for cert in certs):
        return  # OpenSSL picks the root that signed the platform's chain
    where = f"IOT_CA_FILE={config.ca_file}"
    expired = [cert for cert in certs if cert.not_valid_after_utc < now]
    if len(certs) == 1 and expired:
        raise TlsConfigurationError(
            f"the CA certificate in {where} expired on {_day(certs[0].not_valid_after_utc)}: "
            "install the platform's current root and update IOT_CA_FILE"
        )
    if len(certs) == 1:
        raise TlsConfigurationError(
            f"the CA certificate in {where} is not valid before "
            f"{_day(certs[0].not_valid_before_utc)}: check this server's clock or update "
            "IOT_CA_FILE"
        )
    if len(expired) == len(certs):
        last = max(cert.not_valid_after_utc for cert in certs)
        raise TlsConfigurationError(
            f"every CA certificate in {where} ({len(certs)} roots) has expired (the last on "
            f"{_day(last)}): install the platform's current roots and update IOT_CA_FILE"
        )
    if not expired:
        first = min(cert.not_valid_before_utc for cert in certs)
        raise TlsConfigurationError(
            f"no CA certificate in {where} ({len(certs)} roots) is valid yet (the first from "
            f"{_day(first)}): check this server's clock or update IOT_CA_FILE"
        )
    raise TlsConfigurationError(
        f"none of the {len(certs)} CA certificates in {where} is valid today ({len(expired)} "
        "expired, the others not yet valid): check this server's clock or update IOT_CA_FILE"
    )


def _load_pem_client(context: ssl.SSLContext, config: PlatformConfig) -> None:
    """A PEM certificate with its key (in IOT_CLIENT_KEY or the same file), the key possibly
    password-encrypted: OpenSSL decrypts it in memory, nothing decrypted is written."""
    try:
        with open(config.client_cert, "rb") as fh:
            cert = x509.load_pem_x509_certificates(fh.read())[0]
    except (OSError, ValueError) as exc:
        raise TlsConfigurationError(
            f"the client certificate IOT_CLIENT_CERT={config.client_cert} cannot be read as PEM "
            f"({type(exc).__name__})"
        ) from None
    _check_validity(cert, what="client certificate", setting="IOT_CLIENT_CERT")
    _check_pem_key(config, cert)
    password = config.client_cert_password or _no_password
    try:
        context.load_cert_chain(
            certfile=config.client_cert, keyfile=config.client_key or None, password=password
        )
    except _PasswordNeeded:
        raise TlsConfigurationError(
            "the client key is password-encrypted: set IOT_CLIENT_CERT_PASSWORD "
            "(or IOT_CLIENT_CERT_PASSWORD_FILE)"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        text = str(exc).upper()
        if "KEY_VALUES_MISMATCH" in text or "KEY VALUES MISMATCH" in text:
            message = (
                "the client key IOT_CLIENT_KEY does not belong to the certificate "
                "IOT_CLIENT_CERT: configure the key issued with that certificate"
            )
        elif "BAD_DECRYPT" in text or "BAD DECRYPT" in text or "PASSWORD" in text:
            message = (
                "the key password IOT_CLIENT_CERT_PASSWORD does not decrypt the client key: "
                "check IOT_CLIENT_CERT_PASSWORD (or IOT_CLIENT_CERT_PASSWORD_FILE)"
            )
        else:
            message = (
                f"the client certificate IOT_CLIENT_CERT={config.client_cert} or its key "
                f"IOT_CLIENT_KEY cannot be loaded ({type(exc).__name__})"
            )
        raise TlsConfigurationError(message) from None


def _check_pem_key(config: PlatformConfig, cert: x509.Certificate) -> None:
    """Clear messages for the key before OpenSSL (whose errors say only "PEM lib"): the key is
    decrypted in this process's memory to compare it with the certificate, never written."""
    key_file = config.client_key or config.client_cert
    setting = "IOT_CLIENT_KEY" if config.client_key else "IOT_CLIENT_CERT"
    try:
        with open(key_file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TlsConfigurationError(
            f"the client key {setting}={key_file} cannot be read ({type(exc).__name__})"
        ) from None
    password = config.client_cert_password.encode() or None
    try:
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except TypeError:
            if password is None:
                raise TlsConfigurationError(
                    "the client key is password-encrypted: set IOT_CLIENT_CERT_PASSWORD "
                    "(or IOT_CLIENT_CERT_PASSWORD_FILE)"
                ) from None
            key = serialization.load_pem_private_key(data, password=None)  # not encrypted
    except ValueError:
        if password is not None and b"ENCRYPTED" in data:
            raise TlsConfigurationError(
                "the key password IOT_CLIENT_CERT_PASSWORD does not decrypt the client key: "
                "check IOT_CLIENT_CERT_PASSWORD (or IOT_CLIENT_CERT_PASSWORD_FILE)"
            ) from None
        raise TlsConfigurationError(
            f"the client key {setting}={key_file} cannot be read as a PEM private key"
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ) != cert.public_key().public_bytes(serialization.Encoding.DER, public):
        raise TlsConfigurationError(
            f"the client key {setting} does not belong to the certificate IOT_CLIENT_CERT: "
            "configure the key issued with that certificate"
        )


def _load_p12_client(context: ssl.SSLContext, config: PlatformConfig) -> None:
    """A PKCS#12 bundle, loaded without writing its key to disk.

    `ssl.SSLContext.load_cert_chain` only reads files, so the certificate and the key (the
    key re-encrypted with a random one-time password) are written to an anonymous in-memory
    file (`os.memfd_create`, Linux) and loaded from `/proc/self/fd/N`; the file is closed, and
    so gone, as soon as OpenSSL has read it.
    """
    try:
        with open(config.client_p12, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TlsConfigurationError(
            f"the PKCS#12 file IOT_CLIENT_P12={config.client_p12} cannot be read "
            f"({type(exc).__name__})"
        ) from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data, config.client_p12_password.encode() or None
        )
    except ValueError:
        raise TlsConfigurationError(
            "IOT_CLIENT_P12_PASSWORD does not open IOT_CLIENT_P12 (wrong password, or not a "
            "PKCS#12 file): check IOT_CLIENT_P12_PASSWORD (or IOT_CLIENT_P12_PASSWORD_FILE)"
        ) from None
    if key is None or cert is None:
        raise TlsConfigurationError(
            "IOT_CLIENT_P12 holds no client certificate with its key: use the bundle Huawei "
            "issued for the application"
        )
    _check_validity(cert, what="client certificate in", setting="IOT_CLIENT_P12")
    if not hasattr(os, "memfd_create"):
        raise TlsConfigurationError(
            "IOT_CLIENT_P12 needs Linux (memfd_create): convert the bundle to PEM and set "
            "IOT_CLIENT_CERT, IOT_CLIENT_KEY and IOT_CLIENT_CERT_PASSWORD instead"
        )
    one_time = secrets.token_hex(32).encode()
    pem = cert.public_bytes(serialization.Encoding.PEM)
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in extra or ())
    pem += key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    fd = os.memfd_create("iotadmin-client-p12", os.MFD_CLOEXEC)
    try:
        os.write(fd, pem)
        context.load_cert_chain(certfile=f"/proc/self/fd/{fd}", password=one_time)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigurationError(
            f"the client certificate in IOT_CLIENT_P12={config.client_p12} cannot be used "
            f"({type(exc).__name__})"
        ) from None
    finally:
        os.close(fd)


def build_ssl_context(config: PlatformConfig) -> ssl.SSLContext:
    if config.ca_file:
        # Only the configured CA(s) are trusted: not the system store, not SSL_CERT_FILE.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _load_ca_bundle(context, config)
    else:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if config.client_p12:
        _load_p12_client(context, config)
    elif config.client_cert:
        _load_pem_client(context, config)
    context.check_hostname = config.verify_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_certificate(config: PlatformConfig) -> x509.Certificate | None:
    """The configured client certificate (PEM or PKCS#12), for reports; None when none."""
    if config.client_p12:
        with open(config.client_p12, "rb") as fh:
            _key, cert, _extra = pkcs12.load_key_and_certificates(
                fh.read(), config.client_p12_password.encode() or None
            )
        return cert
    if config.client_cert:
        with open(config.client_cert, "rb") as fh:
            return x509.load_pem_x509_certificates(fh.read())[0]
    return None


class PlatformAdapter(HTTPAdapter):
    """Uses our SSL context for every HTTPS connection instead of requests' defaults."""

    def __init__(self, config: PlatformConfig) -> None:
        self._config = config
        self._context: ssl.SSLContext | None = None
        super().__init__(
            pool_connections=2, pool_maxsize=config.pool_size, max_retries=0, pool_block=False
        )

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = build_ssl_context(self._config)
        return self._context

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, None)
        if host_params.get("scheme") != "https":
            return host_params, {}
        pool_kwargs: dict[str, Any] = {
            "ssl_context": self.ssl_context(),
            "cert_reqs": "CERT_REQUIRED",
        }
        if not self._config.verify_hostname:
            pool_kwargs["assert_hostname"] = False
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # Everything is in our SSL context; keep requests from adding certifi or env bundles.
        return None


def peer_certificate(config: PlatformConfig) -> x509.Certificate:
    """The platform's certificate, from one TLS handshake with the configured context (what
    `platform_check` prints). TlsConfigurationError for our own files; OSError or ssl.SSLError
    when the handshake fails (the next call through the session gives the one-line reason)."""
    parts = urlsplit(config.base_url)
    host = parts.hostname or ""
    context = build_ssl_context(config)
    with socket.create_connection((host, parts.port or 443), timeout=config.connect_timeout) as raw:
        server_hostname = host if config.verify_hostname else None
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    if der is None:  # only without a handshake; wrap_socket has done one
        raise ConnectionError("the platform presented no certificate")
    return x509.load_der_x509_certificate(der)


def build_session(config: PlatformConfig) -> requests.Session:
    session = requests.Session()
    # Environment proxies, netrc and REQUESTS_CA_BUNDLE must not change who we talk to.
    session.trust_env = False
    adapter = PlatformAdapter(config)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"Accept": "application/json", "User-Agent": "iotadmin/0.1"})
    return session
