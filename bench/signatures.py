"""Time the verification of a signed form: two signatures, about 1 MB (issue 15's target:
median <= 300 ms on this machine), in-process, as the upload action runs it.

    /path/to/venv/bin/python bench/signatures.py [--runs 21]

The form is the portal's application form with a 1 MB incompressible image added (not drawn:
the pages' content, and so the form seal, stay as issued), signed by the applicant and then
the superior with pyHanko, by certificates of a CA made for the run (tests/pki.py). It prints
the size, each phase's median and the verdict; the verification trusts the CA's root and holds
its CRL (soft-fail), as the tests configure it.
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import sys
import tempfile
import time

import pikepdf
from ckan.plugins import toolkit as tk

from ckanext.dgaaccounts import pdf, signatures
from ckanext.dgaaccounts.tests import pki

TARGET_MS = 300.0


def one_megabyte_form(request_id: str) -> bytes:
    form = pdf.application_form_pdf({
        "reference": "DGA-2026-000001", "fullname": "สมชาย ใจดี", "username": "somchai",
        "email": "somchai@dga.or.th", "superior_name": "นางสาวพิมพ์ชนก ศรีสุข",
        "superior_position": "ผู้อำนวยการกอง", "issued": datetime.date(2026, 11, 27),
        **signatures.issue_args(request_id)})
    with pikepdf.open(io.BytesIO(form)) as doc:
        side = 600  # 600 x 600 RGB = 1.08 MB of random pixels
        image = pikepdf.Stream(doc, os.urandom(side * side * 3))
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height = side, side
        image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceRGB, 8
        page = doc.pages[0]
        if "/XObject" not in page.obj.Resources:
            page.obj.Resources.XObject = pikepdf.Dictionary()
        page.obj.Resources.XObject.Scan = image
        out = io.BytesIO()
        doc.save(out)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    ca = pki.make_pki()
    paths = ca.write(tempfile.mkdtemp(prefix="dga-bench-pki-"))
    tk.config["ckanext.dgaaccounts.signature_trust_roots"] = [paths["root"]]
    tk.config["ckanext.dgaaccounts.signature_crls"] = [paths["crl"]]
    tk.config["SECRET_KEY"] = tk.config.get("SECRET_KEY") or "bench-secret"
    form = one_megabyte_form("bench-request")
    signed = pki.sign(pki.sign(form, ca.officer, pdf.SIGNATURE_FIELDS[0]),
                      ca.superior, pdf.SIGNATURE_FIELDS[1])
    expected = signatures.Expected("bench-request", ("สมชาย ใจดี",),
                                   ("นางสาวพิมพ์ชนก ศรีสุข",), True)
    timings, result = [], None
    for _ in range(args.runs):
        start = time.perf_counter()
        result = signatures.verify(signed, expected)
        timings.append((time.perf_counter() - start) * 1000)
    if result is None or not result.verified:
        raise SystemExit(f"not verified: {result}")
    median = statistics.median(timings)
    print(f"signed form: {len(signed) / 1e6:.2f} MB, {len(result.signatures)} signatures, "
          f"verified={result.verified}")
    print(f"verify: median {median:.0f} ms, min {min(timings):.0f} ms, "
          f"max {max(timings):.0f} ms over {args.runs} runs (target <= {TARGET_MS:.0f} ms)")
    return 0 if median <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
