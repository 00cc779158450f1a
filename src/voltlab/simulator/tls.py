"""TLS for security profiles 2 (server authentication, CA bundle) and 3 (client certificate)."""

from __future__ import annotations

import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class TlsMaterialError(ValueError):
    """PEM text that is not a certificate / key, or a key that does not fit its certificate."""


def check_material(ca_pem: str | None, cert_pem: str | None, key_pem: str | None) -> None:
    """Raise :class:`TlsMaterialError` naming what is wrong; ``None`` means not given."""
    if ca_pem is not None:
        try:
            x509.load_pem_x509_certificates(ca_pem.encode())
        except ValueError as exc:
            raise TlsMaterialError(f"ca_cert is not a PEM certificate bundle: {exc}") from exc
    if (cert_pem is None) != (key_pem is None):
        raise TlsMaterialError("client_cert and client_key go together (security profile 3)")
    if cert_pem is None or key_pem is None:
        return
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise TlsMaterialError(f"client_cert is not a PEM certificate: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise TlsMaterialError(f"client_key is not an unencrypted PEM private key: {exc}") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if key.public_key().public_bytes(encoding, public) != cert.public_key().public_bytes(
        encoding, public
    ):
        raise TlsMaterialError("client_key does not belong to client_cert")


def client_context(ca_pem: str | None, cert_pem: str | None, key_pem: str | None) -> ssl.SSLContext:
    """A client context trusting ``ca_pem`` (else the system store), presenting the client
    certificate when given. Blocking (the key goes through a private temporary file, as
    ``ssl`` loads keys from files only): call it in a thread."""
    context = (
        ssl.create_default_context(cadata=ca_pem) if ca_pem else (ssl.create_default_context())
    )
    if cert_pem and key_pem:
        fd, path = tempfile.mkstemp(prefix="voltlab-", suffix=".pem")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(cert_pem.strip() + "\n" + key_pem.strip() + "\n")
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
    return context
