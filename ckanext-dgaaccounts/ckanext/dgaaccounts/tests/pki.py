"""A small certificate authority made with ``cryptography``, and signing with pyHanko as a
real signer would. Used by the signature tests, bench/signatures.py and the dev demo CA.

Root -> intermediate -> signers (officer, superior, a stranger, an expired and a revoked
officer), plus an unrelated root and signer that the portal does not trust, and the
intermediate's CRL listing the revoked certificate.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import os
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


@dataclasses.dataclass
class Identity:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: list[x509.Certificate]  # issuers, nearest first

    def signer(self, extra_certs: list[x509.Certificate] | None = None) -> Any:
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        return signers.SimpleSigner(
            signing_cert=_asn1_cert(self.cert),
            signing_key=asn1_keys.PrivateKeyInfo.load(self.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())),
            cert_registry=SimpleCertificateStore.from_certs(
                [_asn1_cert(c) for c in self.chain + (extra_certs or [])]),
        )


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Any, issuer: Identity | None, *, ca: bool,
          not_before: datetime.datetime = NOW - DAY,
          not_after: datetime.datetime = NOW + 365 * DAY,
          serial: int | None = None) -> x509.Certificate:
    issuer_name = issuer.cert.subject if issuer else _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject)).issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False)
        # Where the CA publishes its CRL (the portal reads it from signature_crls, offline).
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier("http://ca.invalid/issuing.crl")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    usage = dict(digital_signature=True, content_commitment=not ca, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                 crl_sign=ca, encipher_only=False, decipher_only=False)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    return builder.sign((issuer.key if issuer else key), hashes.SHA256())


def identity(subject: str, issuer: Identity | None = None, *, ca: bool = False,
             **kwargs: Any) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(subject, key, issuer, ca=ca, **kwargs)
    chain = [issuer.cert] + issuer.chain if issuer else []
    return Identity(key, cert, chain)


@dataclasses.dataclass
class PKI:
    root: Identity
    intermediate: Identity
    officer: Identity
    superior: Identity
    stranger: Identity
    expired: Identity
    revoked: Identity
    untrusted: Identity
    crl: x509.CertificateRevocationList

    def write(self, folder: str) -> dict[str, str]:
        """The trust root and the CRL as files (for the config options)."""
        os.makedirs(folder, exist_ok=True)
        paths = {"root": os.path.join(folder, "root.pem"),
                 "crl": os.path.join(folder, "intermediate.crl")}
        with open(paths["root"], "wb") as f:
            f.write(self.root.cert.public_bytes(serialization.Encoding.PEM))
        with open(paths["crl"], "wb") as f:
            f.write(self.crl.public_bytes(serialization.Encoding.PEM))
        return paths


def make_pki(officer_name: str = "นาย สมชาย  ใจดี",
             superior_name: str = "พิมพ์ชนก  ศรีสุข") -> PKI:
    root = identity("DGA Test Root CA", ca=True, not_after=NOW + 3650 * DAY)
    inter = identity("DGA Test Issuing CA", root, ca=True, not_after=NOW + 1825 * DAY)
    revoked = identity(officer_name, inter)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter.cert.subject).last_update(NOW - DAY).next_update(NOW + 30 * DAY)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(revoked.cert.serial_number)
            .revocation_date(NOW - DAY).build())
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            inter.key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(inter.key, hashes.SHA256())
    )
    other_root = identity("Unknown Root CA", ca=True)
    return PKI(
        root=root, intermediate=inter,
        officer=identity(officer_name, inter),
        superior=identity(superior_name, inter),
        stranger=identity("Mr. Somsak Othername", inter),
        expired=identity(officer_name, inter, not_before=NOW - 400 * DAY,
                         not_after=NOW - 30 * DAY),
        revoked=revoked,
        untrusted=identity(officer_name, other_root),
        crl=crl,
    )


def sign(data: bytes, who: Identity, field: str,
         extra_certs: list[x509.Certificate] | None = None) -> bytes:
    """Sign ``field`` of the PDF ``data`` as ``who``, in a new revision (as Acrobat would)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    out = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=field),
                           signer=who.signer(extra_certs))
    return out.getvalue()
