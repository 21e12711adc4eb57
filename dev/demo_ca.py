#!/usr/bin/env python
"""A demo certificate authority and two demo signers, to walk the paperless path locally.

    python dev/demo_ca.py init                        # var/demo-ca/ (once; dev/up.sh runs it)
    python dev/demo_ca.py sign FORM.pdf SIGNED.pdf    # sign as the officer, then the superior

``init`` writes the root (trusted by dev/development.ini), the issuing CA's CRL, the keys and
certificates of "สมชาย ใจดี" (officer) and "นางสาวพิมพ์ชนก ศรีสุข" (superior), and those of a
demo timestamp authority: register with these names (the README's example) for the signatures
to match. ``sign`` signs the form's ApplicantSignature and SuperiorSignature fields with
pyHanko, as the two people's own tools would, the officer's signature timestamped (RFC 3161) by
the demo TSA (pyHanko's test timestamper), the superior's not: the review page shows both
kinds of signing time. Demo keys, unencrypted: never for production.
"""
from __future__ import annotations

import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ckanext.dgaaccounts import pdf
from ckanext.dgaaccounts.tests import pki

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.normpath(os.path.join(HERE, "..", "var", "demo-ca"))
PEOPLE = ("officer", "superior")
TSA = "tsa"


def _path(name: str) -> str:
    return os.path.join(FOLDER, name)


def init() -> None:
    """Write the demo CA once (the root, the CRL, the two signers' keys and certificates)."""
    if all(os.path.exists(_path(f"{who}.key.pem")) for who in PEOPLE):
        return
    ca = pki.make_pki(officer_name="สมชาย ใจดี", superior_name="นางสาวพิมพ์ชนก ศรีสุข")
    ca.write(FOLDER)
    pem = serialization.Encoding.PEM
    with open(_path("chain.pem"), "wb") as f:
        f.write(ca.intermediate.cert.public_bytes(pem) + ca.root.cert.public_bytes(pem))
    for who in (*PEOPLE, TSA):
        ident = getattr(ca, who)
        with open(_path(f"{who}.cert.pem"), "wb") as f:
            f.write(ident.cert.public_bytes(pem))
        with open(_path(f"{who}.key.pem"), "wb") as f:
            f.write(ident.key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    print(f"[demo-ca] demo CA and signers in {FOLDER}")


def _identity(who: str) -> pki.Identity:
    with open(_path(f"{who}.key.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(_path(f"{who}.cert.pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(_path("chain.pem"), "rb") as f:
        chain = x509.load_pem_x509_certificates(f.read())
    return pki.Identity(key, cert, chain)  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    if argv[:1] == ["init"]:
        init()
        return 0
    if argv[:1] == ["sign"] and len(argv) == 3:
        init()
        with open(argv[1], "rb") as f:
            data = f.read()
        stamper = _identity(TSA).timestamper() if os.path.exists(_path(f"{TSA}.key.pem")) \
            else None  # a demo CA made before the TSA: no timestamp
        for who, field in zip(PEOPLE, pdf.SIGNATURE_FIELDS, strict=True):
            data = pki.sign(data, _identity(who), field,
                            timestamper=stamper if who == "officer" else None)
        with open(argv[2], "wb") as f:
            f.write(data)
        print(f"[demo-ca] signed by the officer, then the superior: {argv[2]}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
