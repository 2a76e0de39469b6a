"""Throwaway certificates for tests (a CA and certificates it signs), made with `cryptography` in memory."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Identity", "encrypted_key_pem", "make_ca", "make_certificate"]


@dataclass(frozen=True)
class Identity:
    certificate_pem: str
    key_pem: str  # unencrypted PKCS#8
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _key_pem(key, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def _build(subject: str, key, issuer: Identity | None, *, ca: bool, san: list[str] | None) -> Identity:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        names = []
        for entry in san:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                names.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Identity(certificate.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key), certificate, key)


def make_ca(name: str = "Test CA") -> Identity:
    return _build(name, ec.generate_private_key(ec.SECP256R1()), None, ca=True, san=None)


def make_certificate(ca: Identity, name: str = "client", *, san: list[str] | None = None) -> Identity:
    return _build(name, ec.generate_private_key(ec.SECP256R1()), ca, ca=False, san=san)


def encrypted_key_pem(identity: Identity, password: bytes = b"secret") -> str:
    return _key_pem(identity.key, password)
