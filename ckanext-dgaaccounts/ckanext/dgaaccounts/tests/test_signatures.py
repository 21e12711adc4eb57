"""Digitally signed forms: the issued form is signable, an upload's signatures are verified
with pyHanko against a CA the tests make, and the result reaches the API, the review page,
the queue and the audit trail. Bad signatures: tests/security/test_signature_inputs.py."""
from __future__ import annotations

import asyncio
import datetime
import io

import pikepdf
import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import pdf, signatures
from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.signature_store import Signature, SignatureCheck
from ckanext.dgaaccounts.tests import pki
from ckanext.dgaaccounts.tests.conftest import PDF, PNG, registration, row_counts, stored_files

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

APPLICANT, SUPERIOR = pdf.SIGNATURE_FIELDS


def awaiting_document(smtp, deliver, **overrides) -> tuple[str, str]:
    """An agency registration whose email is confirmed: (request id, applicant token)."""
    result = helpers.call_action("dgaaccounts_agency_register", **registration(**overrides))
    deliver()
    token = smtp.link(overrides.get("email", registration()["email"]))
    verified = helpers.call_action("dgaaccounts_email_verify", token=token)
    return result["request_id"], verified["applicant_token"]


def issued_form(app, request_id: str, token: str) -> bytes:
    """The form as the applicant downloads it, from the link in the email."""
    client = app.test_client()
    client.get(f"/dgaaccounts/request/{request_id}?token={token}")
    resp = client.get(f"/dgaaccounts/request/{request_id}/form.pdf")
    assert resp.status_code == 200
    return resp.data


def signed_by_both(ca: pki.PKI, form: bytes) -> bytes:
    return pki.sign(pki.sign(form, ca.officer, APPLICANT), ca.superior, SUPERIOR)


def upload(request_id: str, token: str, data: bytes, name: str = "signed.pdf") -> dict:
    return helpers.call_action("dgaaccounts_request_document_upload", id=request_id,
                               token=token, signed_form=_Upload(data, name))


class _Upload:
    def __init__(self, content: bytes, filename: str) -> None:
        self.stream = io.BytesIO(content)
        self.filename = filename

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)


# -- the issued form --------------------------------------------------------------------------

FORM = {"reference": "DGA-2026-000042", "fullname": "สมชาย ใจดี", "username": "somchai",
        "email": "somchai@dga.or.th", "superior_name": "นางสาวพิมพ์ชนก ศรีสุข",
        "superior_position": "ผู้อำนวยการกอง", "issued": datetime.date(2026, 11, 27)}


def _widgets(data: bytes) -> dict[str, tuple[int, list[float]]]:
    with pikepdf.open(io.BytesIO(data)) as doc:
        found = {}
        for number, page in enumerate(doc.pages):
            for annot in page.obj.get("/Annots", []):
                if annot.get("/FT") == "/Sig":
                    found[str(annot.T)] = (number, [float(v) for v in annot.Rect])
        assert {str(f.T) for f in doc.Root.AcroForm.Fields} == set(found)
        return found


class TestIssuedForm:
    def test_application_form_has_two_visible_empty_signature_fields_on_the_lines(self):
        data = pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})
        fields = _widgets(data)
        assert set(fields) == {APPLICANT, SUPERIOR}
        (page_a, rect_a), (page_s, rect_s) = fields[APPLICANT], fields[SUPERIOR]
        assert page_a == page_s
        # side by side, applicant on the left, each wide and tall enough to sign in
        assert rect_a[2] < rect_s[0]
        for x1, y1, x2, y2 in (rect_a, rect_s):
            assert x2 - x1 > 150
            assert y2 - y1 > 30

    def test_form_id_and_reference_in_the_metadata(self):
        data = pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})
        with pikepdf.open(io.BytesIO(data)) as doc:
            assert str(doc.docinfo[pdf.INFO_REFERENCE]) == "DGA-2026-000042"
            assert str(doc.docinfo[pdf.INFO_FORM_ID]) == signatures.form_id("r1")
            assert len(str(doc.docinfo[pdf.INFO_SEAL])) == 64

    def test_form_id_is_stable_per_request_and_differs_between_requests(self):
        assert signatures.form_id("r1") == signatures.form_id("r1")
        assert signatures.form_id("r1") != signatures.form_id("r2")
        first = pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})
        assert first == pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})

    def test_cancellation_form_without_superior_has_one_field(self):
        data = pdf.cancellation_form_pdf({**FORM, "kind": "cancellation", "reason": "x",
                                          **signatures.issue_args("r1")})
        assert set(_widgets(data)) == {APPLICANT}
        with_superior = pdf.cancellation_form_pdf({
            **FORM, "kind": "suspension", "reason": "x", "with_superior": True})
        assert set(_widgets(with_superior)) == {APPLICANT, SUPERIOR}


# -- verification -----------------------------------------------------------------------------

def _expected(request_id: str = "r1") -> signatures.Expected:
    return signatures.Expected(request_id, ("สมชาย ใจดี",), ("นางสาวพิมพ์ชนก ศรีสุข",), True)


@pytest.mark.usefixtures("trust")
class TestVerify:
    def test_form_signed_by_applicant_then_superior_is_verified(self, ca):
        form = pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})
        result = signatures.verify(signed_by_both(ca, form), _expected())
        assert result.form == "ok"
        assert result.verified
        by_field = {s.field: s for s in result.signatures}
        assert by_field[APPLICANT].matched == "applicant"
        assert by_field[SUPERIOR].matched == "superior"
        for sig in result.signatures:
            assert (sig.reason, sig.intact, sig.trusted) == ("ok", True, True)
            assert "DGA Test Issuing CA" in sig.issuer
            assert sig.signing_time is not None
        # the applicant's signature sees the superior's as form filling only
        assert by_field[APPLICANT].modification_level == "form_filling"

    def test_names_match_with_titles_and_spacing_normalized(self):
        assert signatures.normalize_name("นาย  สมชาย ใจดี") == signatures.normalize_name(
            "สมชาย ใจดี")
        assert signatures.normalize_name("นางสาวพิมพ์ชนก   ศรีสุข") == "พิมพ์ชนก ศรีสุข"
        assert signatures.normalize_name("Dr. Suda  RAKTHAI") == "suda rakthai"
        assert signatures.normalize_name("Mrs Suda Rakthai") == "suda rakthai"
        assert signatures.normalize_name("Mrinal Sen") == "mrinal sen"  # not a title

    def test_verified_inside_a_running_event_loop_too(self, ca):
        # an asynchronous server worker: pyHanko's own event loop cannot nest in it
        signed = signed_by_both(ca, pdf.application_form_pdf(
            {**FORM, **signatures.issue_args("r1")}))

        async def in_the_loop() -> signatures.DocumentResult:
            return signatures.verify(signed, _expected())

        # (asyncio.run in a thread with no loop of its own: this process may be running one)
        assert pki.off_the_loop(asyncio.run, in_the_loop()).verified

    def test_nothing_is_trusted_without_trust_roots(self, ca, ckan_config, monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_trust_roots", [])
        form = pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})
        result = signatures.verify(signed_by_both(ca, form), _expected())
        assert not result.verified
        assert {s.reason for s in result.signatures} == {"untrusted"}


# -- the upload path --------------------------------------------------------------------------

@pytest.mark.usefixtures("trust", "with_request_context")
class TestUpload:
    def test_signed_form_is_verified_on_upload_and_shown_everywhere(
            self, app, ca, smtp, deliver, storage_root):
        request_id, token = awaiting_document(smtp, deliver)
        signed = signed_by_both(ca, issued_form(app, request_id, token))
        upload(request_id, token, signed)
        shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
        [doc] = shown["documents"]
        assert shown["signatures_verified"] is True
        assert doc["signature_check"]["verified"] is True
        assert doc["signature_check"]["form"] == "ok"
        assert [(s["field"], s["matched"], s["valid"]) for s in doc["signatures"]] == [
            (APPLICANT, "applicant", True), (SUPERIOR, "superior", True)]
        # the stored file is the uploaded one, byte for byte
        stored = model.Session.query(Document).one()
        [path] = stored_files(storage_root)
        with open(path, "rb") as f:
            assert f.read() == signed
        assert stored.size == len(signed)
        # the audit trail records the result
        [event] = [e for e in shown["history"] if e["action"] == "upload_document"]
        assert event["details"]["signatures"]["verified"] is True
        assert [s["matched"] for s in event["details"]["signatures"]["signatures"]] == [
            "applicant", "superior"]
        # the queue marks it, and filters on it
        sysadmin = {"user": factories.Sysadmin()["name"]}
        listed = helpers.call_action("dgaaccounts_request_list", context=dict(sysadmin))
        assert [r["signatures_verified"] for r in listed["results"]] == [True]
        only = helpers.call_action("dgaaccounts_request_list", context=dict(sysadmin),
                                   signatures="verified")
        assert [r["id"] for r in only["results"]] == [request_id]

    def test_scrub_erases_the_signers_names_but_keeps_the_results(
            self, app, ca, smtp, deliver):
        from ckanext.dgaaccounts import signature_store

        request_id, token = awaiting_document(smtp, deliver)
        upload(request_id, token, signed_by_both(ca, issued_form(app, request_id, token)))
        signature_store.scrub_request(request_id)
        model.Session.commit()
        shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
        rows = shown["documents"][0]["signatures"]
        assert [(s["signer_name"], s["signer_subject"]) for s in rows] == [(None, None)] * 2
        assert [s["valid"] for s in rows] == [True, True]
        assert "ศรีสุข" not in str(shown["history"])

    def test_a_later_unverified_upload_clears_the_mark(self, app, ca, smtp, deliver):
        request_id, token = awaiting_document(smtp, deliver)
        upload(request_id, token, signed_by_both(ca, issued_form(app, request_id, token)))
        sysadmin = {"user": factories.Sysadmin()["name"]}
        helpers.call_action("dgaaccounts_request_return", context=dict(sysadmin),
                            id=request_id, reason="อ่านไม่ออก")
        upload(request_id, token, PDF, "scan.pdf")
        only = helpers.call_action("dgaaccounts_request_list", context=dict(sysadmin),
                                   signatures="verified")
        assert only["count"] == 0
        shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
        assert shown["signatures_verified"] is False
        assert shown["documents"][-1]["signature_check"]["form"] in ("unreadable",
                                                                    "no_signatures")

    def test_a_typed_name_with_a_slash_is_one_name(self, app, ca, smtp, deliver):
        """Only a full name an identity provider verified stands for its Thai and English
        names (tests/oidc/test_verified_signatures.py); a name the applicant typed is
        compared whole."""
        request_id, token = awaiting_document(smtp, deliver,
                                              fullname="สมชาย ใจดี / Somchai Jaidee")
        upload(request_id, token, signed_by_both(ca, issued_form(app, request_id, token)))
        shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
        assert [(s["matched"], s["reason"]) for s in shown["documents"][0]["signatures"]] == [
            (None, "name_mismatch"), ("superior", "ok")]
        assert shown["signatures_verified"] is False

    def test_signed_form_at_registration_is_verified_too(self, app, ca, smtp, deliver):
        # the form of the first request, signed, is sent with a second registration:
        # it is another request's form
        request_id, token = awaiting_document(smtp, deliver)
        signed = signed_by_both(ca, issued_form(app, request_id, token))
        other = helpers.call_action("dgaaccounts_agency_register", **registration(
            name="somchai2", email="somchai2@dga.or.th", signed_form=_Upload(signed, "f.pdf")))
        check = model.Session.query(SignatureCheck).filter_by(
            request_id=other["request_id"]).one()
        assert check.form == "other_request"
        assert check.verified is False
        assert model.Session.query(Signature).filter_by(document_id=check.document_id,
                                                        valid=True).count() == 2


@pytest.mark.usefixtures("trust")
class TestReviewPage:
    """Pages get their own request context: no outer one (CKAN keeps the user in ``g``)."""

    def test_review_page_and_queue_show_the_signatures(self, app, ca, smtp, deliver):
        with app.flask_app.test_request_context():
            request_id, token = awaiting_document(smtp, deliver)
            upload(request_id, token, signed_by_both(ca, issued_form(app, request_id, token)))
            admin = factories.Sysadmin()
            auth = {"Authorization": factories.APIToken(user=admin["name"])["token"]}
        page = app.get(f"/ckan-admin/dgaaccounts/request/{request_id}", headers=auth).body
        assert 'id="dgaaccounts-signatures" data-verified="true"' in page
        assert "พิมพ์ชนก  ศรีสุข" in page
        assert "DGA Test Issuing CA" in page
        assert page.count('data-reason="ok"') == 2
        queue = app.get("/ckan-admin/dgaaccounts/?signatures=verified", headers=auth).body
        assert "dgaaccounts-signatures-verified" in queue
        assert app.get("/ckan-admin/dgaaccounts/?signatures=bogus",
                       headers=auth).status_code in (200, 400)


@pytest.mark.usefixtures("with_request_context")
class TestPolicy:
    def test_plain_pdf_and_scan_still_upload_under_scan(self, smtp, deliver):
        assert tk.config["ckanext.dgaaccounts.signature_policy"] == "scan"
        request_id, token = awaiting_document(smtp, deliver)
        assert upload(request_id, token, PDF)["state"] == "submitted"
        check = model.Session.query(SignatureCheck).one()
        assert (check.verified, check.signature_count) == (False, 0)

    @pytest.mark.ckan_config("ckanext.dgaaccounts.signature_policy", "digital_required")
    @pytest.mark.parametrize(("data", "name"), [(PDF, "scan.pdf"), (PNG, "scan.png")])
    def test_digital_required_refuses_a_scan_or_an_unsigned_pdf(
            self, smtp, deliver, storage_root, data, name):
        request_id, token = awaiting_document(smtp, deliver)
        before = row_counts()
        with pytest.raises(tk.ValidationError) as err:
            upload(request_id, token, data, name)
        assert "signed digitally" in err.value.error_dict["signed_form"][0]
        assert row_counts() == before
        assert stored_files(storage_root) == []
        assert model.Session.get(Request, request_id).state == "awaiting_document"
        assert model.Session.query(SignatureCheck).count() == 0

    @pytest.mark.ckan_config("ckanext.dgaaccounts.signature_policy", "digital_required")
    def test_digital_required_accepts_a_signed_form(self, app, ca, trust, smtp, deliver):
        request_id, token = awaiting_document(smtp, deliver)
        result = upload(request_id, token, signed_by_both(ca, issued_form(app, request_id, token)))
        assert result["state"] == "submitted"

    @pytest.mark.ckan_config("ckanext.dgaaccounts.signature_policy", "digital_preferred")
    def test_digital_preferred_recommends_signing_digitally(self, app, smtp, deliver):
        request_id, token = awaiting_document(smtp, deliver)
        page = app.get(f"/dgaaccounts/request/{request_id}?token={token}",
                       follow_redirects=True).body
        assert 'id="dgaaccounts-signature-policy"' in page
        assert upload(request_id, token, PDF)["state"] == "submitted"


@pytest.mark.usefixtures("trust")
def test_a_missing_or_broken_trust_file_trusts_nothing_and_fails_no_upload(
        ca, ckan_config, monkeypatch, tmp_path):
    broken = tmp_path / "broken.pem"
    broken.write_bytes(
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_trust_roots",
                        [str(tmp_path / "missing.pem"), str(broken)])
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_crls",
                        [str(tmp_path / "missing.crl")])
    form = pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})
    result = signatures.verify(signed_by_both(ca, form), _expected())
    assert {s.reason for s in result.signatures} == {"untrusted"}
    assert not result.verified
