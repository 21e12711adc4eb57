"""A small certificate authority made with ``cryptography``, and signing with pyHanko as a
real signer would. Used by the signature tests, bench/signatures.py and the dev demo CA.

Root -> intermediate -> signers (officer, superior, a stranger, an expired and a revoked
officer, a timestamp authority), plus an unrelated root and signer that the portal does not
trust, and the intermediate's CRL listing the revoked certificate.

Signing takes the signer's clock (``signing_time``: what the signature claims) and an RFC 3161
timestamper: pyHanko's own test timestamper (``DummyTimeStamper``) acting as a TSA whose
certificate the CA issued.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import io
import os
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
SECOND = datetime.timedelta(seconds=1)
CRL_URL = "http://ca.invalid/issuing.crl"  # never fetched under soft-fail


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
            signing_key=self._asn1_key(),
            cert_registry=SimpleCertificateStore.from_certs(
                [_asn1_cert(c) for c in self.chain + (extra_certs or [])]),
        )

    def timestamper(self, at: datetime.datetime | None = None) -> Any:
        """pyHanko's test timestamper answering as this (TSA) identity; ``at`` fixes the
        time it puts in its tokens (now otherwise)."""
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        return DummyTimeStamper(
            tsa_cert=_asn1_cert(self.cert), tsa_key=self._asn1_key(),
            certs_to_embed=SimpleCertificateStore.from_certs(
                [_asn1_cert(c) for c in self.chain]),
            fixed_dt=at)

    def _asn1_key(self) -> Any:
        return asn1_keys.PrivateKeyInfo.load(self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Any, issuer: Identity | None, *, ca: bool,
          not_before: datetime.datetime = NOW - 100 * DAY,
          not_after: datetime.datetime = NOW + 365 * DAY,
          serial: int | None = None, crl_url: str | None = CRL_URL,
          tsa: bool = False) -> x509.Certificate:
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
    if issuer is not None and crl_url:
        # Where the CA publishes its CRL (the portal reads it from signature_crls, offline,
        # or fetches it under hard-fail).
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    usage = dict(digital_signature=True, content_commitment=not ca, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                 crl_sign=ca, encipher_only=False, decipher_only=False)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    return builder.sign((issuer.key if issuer else key), hashes.SHA256())


def identity(subject: str, issuer: Identity | None = None, *, ca: bool = False,
             tsa: bool = False, **kwargs: Any) -> Identity:
    # pyHanko's test timestamper signs with RSA only
    key: Any = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if tsa
                else ec.generate_private_key(ec.SECP256R1()))
    cert = _cert(subject, key, issuer, ca=ca, tsa=tsa, **kwargs)
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
    tsa: Identity
    untrusted_tsa: Identity

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


def make_crl(issuer: Identity, revoked: dict[x509.Certificate, datetime.datetime],
             number: int = 1) -> x509.CertificateRevocationList:
    """``issuer``'s CRL listing each certificate of ``revoked`` with its revocation date."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject).last_update(NOW - DAY).next_update(NOW + 30 * DAY)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for cert, when in revoked.items():
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(when).build())
    return builder.sign(issuer.key, hashes.SHA256())


def make_pki(officer_name: str = "นาย สมชาย  ใจดี",
             superior_name: str = "พิมพ์ชนก  ศรีสุข", *, crl_url: str | None = CRL_URL) -> PKI:
    """The test CA. ``crl_url``: the CRL distribution point that the signers' certificates
    name (None: they name none); the intermediate names none, as a root CA's own issuing
    CA often does not."""
    # the CAs were valid long before any signing time a test claims
    root = identity("DGA Test Root CA", ca=True, not_before=NOW - 3650 * DAY,
                    not_after=NOW + 3650 * DAY)
    inter = identity("DGA Test Issuing CA", root, ca=True, not_before=NOW - 1825 * DAY,
                     not_after=NOW + 1825 * DAY, crl_url=None)
    revoked = identity(officer_name, inter, crl_url=crl_url)
    other_root = identity("Unknown Root CA", ca=True, not_before=NOW - 3650 * DAY)
    return PKI(
        root=root, intermediate=inter,
        officer=identity(officer_name, inter, crl_url=crl_url),
        superior=identity(superior_name, inter, crl_url=crl_url),
        stranger=identity("Mr. Somsak Othername", inter, crl_url=crl_url),
        expired=identity(officer_name, inter, not_before=NOW - 400 * DAY,
                         not_after=NOW - 30 * DAY, crl_url=crl_url),
        revoked=revoked,
        untrusted=identity(officer_name, other_root, crl_url=crl_url),
        crl=make_crl(inter, {revoked.cert: NOW - DAY}),
        tsa=identity("DGA Test Time-Stamping Authority", inter, tsa=True, crl_url=None,
                     not_before=NOW - 800 * DAY, not_after=NOW + 800 * DAY),
        untrusted_tsa=identity("Unknown TSA", other_root, tsa=True, crl_url=None,
                               not_before=NOW - 800 * DAY),
    )


def sign(data: bytes, who: Identity, field: str,
         extra_certs: list[x509.Certificate] | None = None, *,
         signing_time: datetime.datetime | None = None, timestamper: Any = None) -> bytes:
    """Sign ``field`` of the PDF ``data`` as ``who``, in a new revision (as Acrobat would).

    ``signing_time``: what the signer's clock says (the time the signature claims: CMS
    signingTime and the signature's /M); now when not given. ``timestamper``: an RFC 3161
    client (``Identity.timestamper``) that stamps the signature."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    meta = signers.PdfSignatureMetadata(field_name=field)
    pdf_signer = _clocked_pdf_signer_class()(meta, signer=who.signer(extra_certs),
                                             timestamper=timestamper, clock=signing_time)
    return pdf_signer.sign_pdf(writer).getvalue()


@functools.cache
def _clocked_pdf_signer_class() -> Any:
    from pyhanko.sign import signers

    class ClockedPdfSigner(signers.PdfSigner):
        """pyHanko's PDF signer on a signer's computer whose clock reads ``clock``."""

        def __init__(self, *args: Any, clock: datetime.datetime | None = None,
                     **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._clock = clock

        def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False
                                 ) -> Any:
            session = super().init_signing_session(
                pdf_out, existing_fields_only=existing_fields_only)
            if self._clock is not None:
                session.system_time = self._clock
            return session

    return ClockedPdfSigner

