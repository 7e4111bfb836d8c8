"""Signed messages: Celery's ``auth`` serializer, with the signer's name handed to the task.

Celery's message signing (``task_serializer = "auth"``, ``security_key``, ``security_certificate``,
``security_cert_store``) signs every message body with the sender's RSA key and verifies it against
the certificates in the receiver's store; an unsigned message, or one signed by a certificate not in
the store, is refused before any task sees it. The swarm goes one step further: the verified
certificate's common name is passed to the task as the keyword argument ``signed_by``, so the
coordinator can hold a report to the drone that signed it (a drone's certificate is issued for its
name) and accept plans and controls only from the coordinator's own certificate (common name
``coordinator``: the coordinator, beat, the API and the CLI hold it).

Each drone's store holds the coordinator's certificate only: a drone runs builds the coordinator
signed, never one another drone forged.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.security.certificate import Certificate, FSCertStore
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from kombu.serialization import loads, registry

from swarm_celery.errors import ConfigError

SIGNER_KWARG = "signed_by"
COORDINATOR_NAME = "coordinator"  # the common name of the certificate the coordinator, beat, the API and the CLI sign with


class NamingSerializer(SecureSerializer):  # type: ignore[misc]
    """Celery's SecureSerializer, whose task bodies also carry the verified signer's common name."""

    def deserialize(self, data: Any) -> Any:
        payload = self._unpack(data)
        certificate = self._cert_store[payload["signer"]]
        certificate.verify(payload["body"], payload["signature"], self._digest)
        body = loads(payload["body"], payload["content_type"], payload["content_encoding"], force=True)  # type: ignore[no-untyped-call]
        if isinstance(body, list | tuple) and len(body) == 3 and isinstance(body[1], dict):  # a task: [args, kwargs, embed]
            body[1][SIGNER_KWARG] = common_name(certificate)  # whatever the sender put there is overwritten
        return body


def common_name(certificate: Certificate) -> str:
    names = certificate._cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def enable_signing(app: Celery, key: Path, certificate: Path, store: Path, signer: str) -> None:
    """Sign what this process sends and accept only what a certificate of ``store`` signed; this process's certificate
    must be issued to ``signer`` (a drone's name, or ``coordinator``)."""
    try:
        own = Certificate(certificate.read_text())
        trusted = FSCertStore(str(store / "*.crt") if store.is_dir() else str(store))  # keys may sit beside the certificates
        serializer = NamingSerializer(PrivateKey(key.read_text()), own, trusted, "sha256", serializer="json")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"message signing: cannot load {key}, {certificate} or the certificates in {store}: {exc}; "
                          "create them with `build-swarm cert create NAME`") from None
    except Exception as exc:  # celery.exceptions.SecurityError: an expired or duplicate certificate in the store
        raise ConfigError(f"message signing: {exc}; fix the certificates in {store}") from None
    if common_name(own) != signer:
        raise ConfigError(f"message signing: {certificate} is issued to {common_name(own)!r}, but this process signs as {signer!r}: "
                          f"create its own with `build-swarm cert create {signer}`")
    registry.register("auth", serializer.serialize, serializer.deserialize,  # type: ignore[no-untyped-call]
                      content_type="application/data", content_encoding="utf-8")
    app.conf.update(task_serializer="auth", accept_content=["auth"], result_accept_content=["json"], event_serializer="json",
                    security_key=str(key), security_certificate=str(certificate), security_cert_store=str(store))


def create_certificate(directory: Path, name: str, days: int = 3650) -> tuple[Path, Path]:
    """An RSA key (mode 0600) and a self-signed certificate for ``name`` in ``directory``: ``NAME.key``, ``NAME.crt``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "build-swarm")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    for path in (key_path, cert_path):
        if path.exists():
            raise ConfigError(f"{path} exists already: a new key would lock out whoever holds the old one; move it away first")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


__all__ = ["COORDINATOR_NAME", "SIGNER_KWARG", "NamingSerializer", "common_name", "create_certificate", "enable_signing"]
