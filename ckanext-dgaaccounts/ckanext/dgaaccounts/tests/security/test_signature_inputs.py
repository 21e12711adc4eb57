"""Bad digitally signed forms: each gets a clear result (a reason code the review page
explains), never a 500, never "verified signatures". The forms are the portal's own, signed
with pyHanko by certificates of a CA made with ``cryptography``, then tampered with."""
from __future__ import annotations

import datetime
import io
import re

import pikepdf
import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import helpers
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ckanext.dgaaccounts import pdf, signatures
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.signature_store import SignatureCheck
from ckanext.dgaaccounts.tests import pki
from ckanext.dgaaccounts.tests.conftest import row_counts, stored_files
from ckanext.dgaaccounts.tests.test_signatures import (
    FORM, awaiting_document, signed_by_both, upload,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "trust"),
]

APPLICANT, SUPERIOR = pdf.SIGNATURE_FIELDS


@pytest.fixture(scope="module")
def form() -> bytes:
    return pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})


EXPECTED = signatures.Expected("r1", ("สมชาย ใจดี",), ("นางสาวพิมพ์ชนก ศรีสุข",), True)


def reasons(result: signatures.DocumentResult) -> dict[str, str]:
    return {s.field: s.reason for s in result.signatures}


def add_revision(data: bytes, change) -> bytes:
    """A later incremental revision made by ``change(writer)``."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _first_page(writer):
    ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    return ref, ref.get_object()


def add_content(writer) -> None:
    ref, page = _first_page(writer)
    stamp = writer.add_object(generic.StreamObject(
        stream_data=b"BT /F1 30 Tf 100 700 Td (APPROVED BY DIRECTOR) Tj ET"))
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), stamp])
    writer.mark_update(ref)


def replace_page(writer) -> None:
    pages = writer.root["/Pages"]
    _ref, old = _first_page(writer)
    new = generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/Parent"): old.raw_get("/Parent"),
        generic.NameObject("/MediaBox"): old["/MediaBox"],
        generic.NameObject("/Contents"): writer.add_object(generic.StreamObject(
            stream_data=b"BT /F1 12 Tf 72 720 Td (another text) Tj ET")),
    })
    kids = pages["/Kids"]
    kids[0] = writer.add_object(new)
    writer.update_container(kids)


def corrupt_last_signature(data: bytes) -> bytes:
    """Flip a hex digit inside the signature value of the last signature's /Contents."""
    start = data.rindex(b"/Contents <") + len(b"/Contents <")
    end = data.index(b">", start)
    body = data[start:end].rstrip(b"0")
    pos = start + len(body) - 20
    flipped = b"0" if data[pos:pos + 1] != b"0" else b"1"
    return data[:pos] + flipped + data[pos + 1:]


class TestTamperedForms:
    def test_content_added_in_a_later_revision(self, ca, form):
        data = add_revision(signed_by_both(ca, form), add_content)
        result = signatures.verify(data, EXPECTED)
        assert set(reasons(result).values()) == {"modified"}
        assert not result.verified

    def test_page_replaced_in_a_later_revision(self, ca, form):
        data = add_revision(signed_by_both(ca, form), replace_page)
        result = signatures.verify(data, EXPECTED)
        assert set(reasons(result).values()) == {"modified"}
        assert not result.verified

    def test_form_changed_before_it_was_signed(self, ca, form):
        data = signed_by_both(ca, add_revision(form, add_content))
        result = signatures.verify(data, EXPECTED)
        assert result.form == "content_changed"
        assert not result.verified

    def test_one_signature_missing(self, ca, form):
        result = signatures.verify(pki.sign(form, ca.officer, APPLICANT), EXPECTED)
        assert reasons(result) == {APPLICANT: "ok", SUPERIOR: "empty_field"}
        assert result.form == "ok"
        assert not result.verified

    @pytest.mark.parametrize(("who", "reason"), [
        ("untrusted", "untrusted"), ("expired", "expired"), ("revoked", "revoked"),
        ("stranger", "name_mismatch"),
    ])
    def test_bad_certificate_or_wrong_person(self, ca, form, who, reason):
        data = pki.sign(pki.sign(form, getattr(ca, who), APPLICANT), ca.superior, SUPERIOR)
        result = signatures.verify(data, EXPECTED)
        assert reasons(result) == {APPLICANT: reason, SUPERIOR: "ok"}
        assert not result.verified

    def test_revoked_certificate_passes_without_the_crl_under_soft_fail(
            self, ca, form, ckan_config, monkeypatch):
        # soft-fail: revocation unknown is tolerated; the CRL is what catches it (above)
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_crls", [])
        data = pki.sign(form, ca.revoked, APPLICANT)
        assert reasons(signatures.verify(data, EXPECTED))[APPLICANT] == "ok"

    def test_another_requests_form_signed_correctly(self, ca):
        other = pdf.application_form_pdf({**FORM, **signatures.issue_args("r2")})
        result = signatures.verify(signed_by_both(ca, other), EXPECTED)
        assert set(reasons(result).values()) == {"ok"}
        assert result.form == "other_request"
        assert not result.verified

    @pytest.mark.parametrize("key", [b"/DGAFormSeal (", b"/DGAFormId ("])
    def test_a_seal_or_form_id_with_a_byte_beyond_ascii(self, ca, form, key):
        # The same length, its first character made non-ASCII, before signing: compared
        # as text, the portal's check failed on it (a 500) instead of telling the result.
        at = form.index(key) + len(key)
        changed = form[:at] + b"\xe9" + form[at + 1:]
        result = signatures.verify(signed_by_both(ca, changed), EXPECTED)
        assert result.form in {"content_changed", "other_request"}
        assert not result.verified

    def test_a_form_not_issued_by_the_portal(self, ca):
        homemade = pdf.application_form_pdf(FORM)  # no form id
        result = signatures.verify(signed_by_both(ca, homemade), EXPECTED)
        assert result.form == "no_form_id"
        assert not result.verified

    def test_corrupted_signature_bytes(self, ca, form):
        data = corrupt_last_signature(signed_by_both(ca, form))
        result = signatures.verify(data, EXPECTED)
        assert reasons(result)[SUPERIOR] in ("not_intact", "unreadable")
        assert not result.verified

    def test_signature_covering_only_part_of_the_file(self, ca, form):
        data = signed_by_both(ca, form) + b"% appended after the last signature\n"
        result = signatures.verify(data, EXPECTED)
        assert reasons(result)[SUPERIOR] in ("partial", "modified")
        assert not result.verified
        # a longer tail hides the end of the file: not readable as a signed PDF at all
        hidden = signatures.verify(data + b"%" * 4096, EXPECTED)
        assert (hidden.form, hidden.verified) in (("unreadable", False), ("ok", False))

    def test_huge_certificate_chain(self, ca, form):
        extra = [pki.identity(f"Filler {i}", ca.intermediate).cert for i in range(60)]
        data = pki.sign(form, ca.officer, APPLICANT, extra_certs=extra)
        result = signatures.verify(data, EXPECTED)
        assert reasons(result)[APPLICANT] == "too_many_certificates"

    def test_garbage_behind_a_pdf_header(self):
        result = signatures.verify(b"%PDF-1.7\n" + b"\x00garbage" * 1000, EXPECTED)
        assert result.form == "unreadable"
        assert not result.verified

    @pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\x00" * 64, b"%PDX-1.7\n"])
    def test_not_a_pdf_at_all(self, data):
        result = signatures.verify(data, EXPECTED)
        assert (result.form, result.verified, result.signatures) == ("not_pdf", False, [])


def many_signature_fields(count: int) -> bytes:
    doc = pikepdf.new()
    doc.add_blank_page()
    fields = pikepdf.Array()
    for i in range(count):
        fields.append(doc.make_indirect(pikepdf.Dictionary(
            FT=pikepdf.Name.Sig, T=pikepdf.String(f"s{i}"), Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget, Rect=[0, 0, 0, 0])))
    doc.Root.AcroForm = pikepdf.Dictionary(Fields=fields)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@pytest.mark.usefixtures("with_request_context")
class TestUploads:
    def test_thousands_of_signature_fields_are_refused(self, smtp, deliver, storage_root):
        request_id, token = awaiting_document(smtp, deliver)
        before = row_counts()
        with pytest.raises(tk.ValidationError) as err:
            upload(request_id, token, many_signature_fields(2000))
        assert err.value.error_dict["signed_form"][0].startswith("The PDF carries more than 10")
        assert row_counts() == before
        assert stored_files(storage_root) == []
        assert model.Session.get(Request, request_id).state == "awaiting_document"

    def test_tampered_upload_is_recorded_not_verified(self, app, ca, smtp, deliver):
        request_id, token = awaiting_document(smtp, deliver)
        data = add_revision(signed_by_both(ca, form_for(request_id)), add_content)
        assert upload(request_id, token, data)["state"] == "submitted"
        check = model.Session.query(SignatureCheck).one()
        assert check.verified is False
        shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
        assert {s["reason"] for s in shown["documents"][0]["signatures"]} == {"modified"}


def form_for(request_id: str) -> bytes:
    return pdf.application_form_pdf({
        **FORM, "fullname": "สมชาย ใจดี", **signatures.issue_args(request_id),
        "issued": datetime.date.today()})


class TestOverHttp:
    @pytest.mark.parametrize("mangle", ["corrupt", "garbage", "truncated"])
    def test_bad_signed_pdf_through_the_api_is_never_a_500(
            self, app, ca, smtp, deliver, mangle):
        with app.flask_app.test_request_context():
            request_id, token = awaiting_document(smtp, deliver)
        signed = signed_by_both(ca, form_for(request_id))
        data = {
            "corrupt": corrupt_last_signature(signed),
            "garbage": re.sub(rb"/ByteRange \[[^\]]*\]", b"/ByteRange [0 1 2 3]", signed),
            "truncated": signed[: len(signed) * 2 // 3],
        }[mangle]
        resp = app.post("/api/3/action/dgaaccounts_request_document_upload", data={
            "id": request_id, "token": token, "signed_form": (io.BytesIO(data), "signed.pdf"),
        }, content_type="multipart/form-data")
        assert resp.status_code in (200, 409), resp.body
        if resp.status_code == 200:
            check = model.Session.query(SignatureCheck).one()
            assert check.verified is False
