"""When a signature was made, and whether its certificate was good then (issue 15).

The certificates are judged at the signing time: the time the signature claims, bounded by
its RFC 3161 signature timestamp when a trusted timestamp authority stamped it (else by the
request's creation and the upload). Revocation: the CRL files count for every certificate,
with or without a CRL pointer; hard-fail and soft-fail apply to the certificates that carry
one. Real pyHanko throughout: signers whose clocks read a given time, pyHanko's own test
timestamper acting as a TSA that the test CA certified, and CRLs served over loopback HTTP.
"""
from __future__ import annotations

import dataclasses
import datetime
import http.server
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization

from ckan.tests import factories, helpers

from ckanext.dgaaccounts import pdf, signatures
from ckanext.dgaaccounts.tests import pki
from ckanext.dgaaccounts.tests.conftest import free_port
from ckanext.dgaaccounts.tests.test_signatures import (
    FORM, awaiting_document, issued_form, upload,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

APPLICANT, SUPERIOR = pdf.SIGNATURE_FIELDS
NOW, DAY = pki.NOW, pki.DAY
EXPECTED = signatures.Expected("r1", ("สมชาย ใจดี",), ("นางสาวพิมพ์ชนก ศรีสุข",), True)


@pytest.fixture(scope="module")
def form() -> bytes:
    return pdf.application_form_pdf({**FORM, **signatures.issue_args("r1")})


def _pem(tmp_path, name: str, *objects) -> str:
    path = tmp_path / name
    path.write_bytes(b"".join(o.public_bytes(serialization.Encoding.PEM) for o in objects))
    return str(path)


def one(data: bytes, expected: signatures.Expected = EXPECTED) -> signatures.SignatureResult:
    [result] = [s for s in signatures.verify(data, expected).signatures if s.signer_subject]
    return result


def _near(value: datetime.datetime | None, when: datetime.datetime,
          slack: datetime.timedelta = datetime.timedelta(minutes=2)) -> bool:
    assert value is not None
    return abs(value - when.astimezone(datetime.timezone.utc).replace(tzinfo=None)) <= slack


# -- the signing time, as claimed -------------------------------------------------------------

@pytest.mark.usefixtures("trust")
class TestJudgedAtTheClaimedTime:
    def test_certificate_expired_since_but_valid_when_it_signed(self, ca, form):
        # the officer signed 60 days ago; the certificate expired 30 days ago
        result = one(pki.sign(form, ca.expired, APPLICANT, signing_time=NOW - 60 * DAY))
        assert result.reason == "ok"
        assert result.time_source == "signer"
        assert _near(result.validity_time, NOW - 60 * DAY)
        assert result.timestamp_status is None

    def test_certificate_already_expired_when_it_signed(self, ca, form):
        result = one(pki.sign(form, ca.expired, APPLICANT))
        assert result.reason == "expired"

    def test_certificate_not_yet_valid_when_it_signed(self, ca, form):
        young = pki.identity("นาย สมชาย  ใจดี", ca.intermediate, not_before=NOW - DAY)
        result = one(pki.sign(form, young, APPLICANT, signing_time=NOW - 10 * DAY))
        assert result.reason == "expired"  # "expired or not yet valid"

    def test_a_claim_older_than_the_request_is_not_believed(self, ca, form):
        # the form did not exist before its request: the time is moved up to its creation
        issued = (NOW - DAY).replace(tzinfo=None)
        expected = dataclasses.replace(EXPECTED, issued_after=issued)
        result = one(pki.sign(form, ca.expired, APPLICANT, signing_time=NOW - 60 * DAY),
                     expected)
        assert result.reason == "expired"
        assert _near(result.validity_time, NOW - DAY)
        assert _near(result.signing_time, NOW - 60 * DAY)  # what it claimed is still shown

    def test_a_claim_in_the_future_is_judged_at_the_upload(self, ca, form):
        # valid today, expired by the claimed date: the signature existed at upload
        short = pki.identity("นาย สมชาย  ใจดี", ca.intermediate, not_after=NOW + 2 * DAY)
        result = one(pki.sign(form, short, APPLICANT, signing_time=NOW + 30 * DAY))
        assert result.reason == "ok"
        assert _near(result.validity_time, datetime.datetime.now(datetime.timezone.utc))

    def test_signing_moment_bounds(self):
        t = datetime.datetime(2026, 12, 1, 10, tzinfo=datetime.timezone.utc)
        now, created = t + 5 * DAY, (t - DAY).replace(tzinfo=None)
        moment = signatures.signing_moment
        assert moment(t, None, created, now) == (t, "signer")
        assert moment(t - 9 * DAY, None, created, now) == (t - DAY, "signer")
        assert moment(t + 9 * DAY, None, created, now) == (now, "signer")
        assert moment(None, None, created, now) == (now, "upload")
        assert moment(t, t + datetime.timedelta(minutes=3), created, now) == (t, "timestamp")
        assert moment(t, t + DAY, created, now) == (t + DAY, "timestamp")
        assert moment(t + DAY, t, created, now) == (t, "timestamp")
        assert moment(None, t, created, now) == (t, "timestamp")


# -- signature timestamps (RFC 3161) ----------------------------------------------------------

@pytest.mark.usefixtures("trust")
class TestTimestamps:
    def test_a_timestamped_signature_is_judged_at_the_timestamp(self, ca, form):
        data = pki.sign(form, ca.officer, APPLICANT, timestamper=ca.tsa.timestamper())
        result = one(data)
        assert result.reason == "ok"
        assert result.timestamp_status == "trusted"
        assert result.time_source == "timestamp"
        assert "DGA Test Time-Stamping Authority" in result.timestamp_authority
        assert _near(result.timestamp_time, datetime.datetime.now(datetime.timezone.utc))

    def test_stamped_while_valid_stays_valid_after_expiry(self, ca, form):
        # signed and stamped a day before the certificate expired
        when = ca.expired.cert.not_valid_after_utc - DAY
        data = pki.sign(form, ca.expired, APPLICANT, signing_time=when - 120 * pki.SECOND,
                        timestamper=ca.tsa.timestamper(at=when))
        result = one(data)
        assert result.reason == "ok"
        assert result.time_source == "timestamp"
        assert _near(result.timestamp_time, when, datetime.timedelta(seconds=1))
        assert _near(result.validity_time, when - 120 * pki.SECOND, datetime.timedelta(seconds=1))

    def test_a_backdated_claim_is_bounded_by_the_timestamp(self, ca, form):
        # claimed while the certificate was valid, but stamped today, after it expired
        data = pki.sign(form, ca.expired, APPLICANT, signing_time=NOW - 60 * DAY,
                        timestamper=ca.tsa.timestamper())
        result = one(data)
        assert result.reason == "expired"
        assert result.time_source == "timestamp"
        assert _near(result.validity_time, datetime.datetime.now(datetime.timezone.utc))
        # the same claim without a timestamp is believed (TestJudgedAtTheClaimedTime)

    def test_revoked_after_a_timestamp_the_signature_stays_valid(self, ca, form):
        # the CRL says revoked yesterday; the signature was stamped five days ago
        when = NOW - 5 * DAY
        data = pki.sign(form, ca.revoked, APPLICANT, signing_time=when,
                        timestamper=ca.tsa.timestamper(at=when))
        assert one(data).reason == "ok"

    def test_revoked_after_an_unstamped_claim_counts(self, ca, form):
        # the signer's clock proves nothing: a revocation known at upload counts
        data = pki.sign(form, ca.revoked, APPLICANT, signing_time=NOW - 5 * DAY)
        assert one(data).reason == "revoked"

    def test_revoked_before_the_timestamp(self, ca, form):
        data = pki.sign(form, ca.revoked, APPLICANT, timestamper=ca.tsa.timestamper())
        assert one(data).reason == "revoked"

    def test_a_timestamp_from_an_unknown_authority_proves_nothing(self, ca, form):
        data = pki.sign(form, ca.expired, APPLICANT, signing_time=NOW - 60 * DAY,
                        timestamper=ca.untrusted_tsa.timestamper(at=NOW - 60 * DAY))
        result = one(data)
        assert result.timestamp_status == "untrusted"
        assert result.time_source == "signer"  # judged on the claim, as without one
        assert result.reason == "ok"

    def test_timestamp_roots_are_trusted_for_timestamps_only(
            self, ca, form, ckan_config, monkeypatch, tmp_path):
        other_root = ca.untrusted_tsa.chain[0]
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_timestamp_roots",
                            [_pem(tmp_path, "tsa-root.pem", other_root)])
        stamped = one(pki.sign(form, ca.officer, APPLICANT,
                               timestamper=ca.untrusted_tsa.timestamper()))
        assert (stamped.timestamp_status, stamped.reason) == ("trusted", "ok")
        # ... and a signer under that root is still untrusted
        assert one(pki.sign(form, ca.untrusted, APPLICANT)).reason == "untrusted"


# -- revocation -------------------------------------------------------------------------------

class _CrlServer:
    """An HTTP server on loopback publishing CRLs, as a CA's distribution point does."""

    def __init__(self) -> None:
        self.port = free_port()
        self.crls: dict[str, bytes] = {}
        self.hits = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.hits += 1
                body = server.crls.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/pkix-crl")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def crl_server() -> Iterator[_CrlServer]:
    server = _CrlServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="module")
def online_ca(crl_server) -> pki.PKI:
    """Signers whose certificates point at the loopback CRL server."""
    return pki.make_pki(crl_url=crl_server.url("/issuing.crl"))


@pytest.fixture(scope="module")
def pointerless_ca() -> pki.PKI:
    """Signers whose certificates name no CRL and no OCSP responder."""
    return pki.make_pki(crl_url=None)


def _trusting(ca: pki.PKI, config, monkeypatch, tmp_path, *, mode: str,
              crl: bool = True) -> None:
    paths = ca.write(str(tmp_path / "t"))
    monkeypatch.setitem(config, "ckanext.dgaaccounts.signature_trust_roots", [paths["root"]])
    monkeypatch.setitem(config, "ckanext.dgaaccounts.signature_crls",
                        [paths["crl"]] if crl else [])
    monkeypatch.setitem(config, "ckanext.dgaaccounts.signature_revocation", mode)


class TestRevocation:
    @pytest.mark.parametrize("mode", ["soft-fail", "hard-fail"])
    def test_crl_file_revokes_a_signer_whose_certificate_names_no_crl(
            self, pointerless_ca, form, ckan_config, monkeypatch, tmp_path, mode):
        _trusting(pointerless_ca, ckan_config, monkeypatch, tmp_path, mode=mode)
        assert one(pki.sign(form, pointerless_ca.revoked, APPLICANT)).reason == "revoked"
        assert one(pki.sign(form, pointerless_ca.officer, APPLICANT)).reason == "ok"

    def test_a_crl_file_signed_by_someone_else_revokes_nothing(
            self, pointerless_ca, ca, form, ckan_config, monkeypatch, tmp_path):
        _trusting(pointerless_ca, ckan_config, monkeypatch, tmp_path, mode="soft-fail")
        # same issuer name, another key: not the CA's CRL
        forged_issuer = pki.Identity(ca.intermediate.key, pointerless_ca.intermediate.cert, [])
        forged = pki.make_crl(forged_issuer, {pointerless_ca.revoked.cert: NOW - DAY})
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_crls",
                            [_pem(tmp_path, "forged.crl", forged)])
        assert one(pki.sign(form, pointerless_ca.revoked, APPLICANT)).reason == "ok"

    def test_hard_fail_does_not_apply_to_certificates_without_pointers(
            self, pointerless_ca, form, ckan_config, monkeypatch, tmp_path):
        _trusting(pointerless_ca, ckan_config, monkeypatch, tmp_path, mode="hard-fail",
                  crl=False)
        assert one(pki.sign(form, pointerless_ca.officer, APPLICANT)).reason == "ok"

    def test_unreachable_crl_fails_under_hard_fail_and_passes_under_soft_fail(
            self, online_ca, form, crl_server, ckan_config, monkeypatch, tmp_path):
        crl_server.crls.clear()  # the distribution point answers 404
        data = pki.sign(form, online_ca.officer, APPLICANT)
        _trusting(online_ca, ckan_config, monkeypatch, tmp_path, mode="hard-fail", crl=False)
        hits = crl_server.hits
        result = one(data)
        assert result.reason == "revocation_unknown"
        assert not result.valid
        assert crl_server.hits > hits  # it did ask
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_revocation",
                            "soft-fail")
        assert one(data).reason == "ok"

    def test_hard_fail_fetches_the_crl_from_the_distribution_point(
            self, online_ca, form, crl_server, ckan_config, monkeypatch, tmp_path):
        crl_server.crls["/issuing.crl"] = online_ca.crl.public_bytes(serialization.Encoding.DER)
        _trusting(online_ca, ckan_config, monkeypatch, tmp_path, mode="hard-fail", crl=False)
        assert one(pki.sign(form, online_ca.officer, APPLICANT)).reason == "ok"
        assert one(pki.sign(form, online_ca.revoked, APPLICANT)).reason == "revoked"

    def test_soft_fail_with_the_crl_file_revokes_a_signer_with_a_pointer(
            self, online_ca, form, crl_server, ckan_config, monkeypatch, tmp_path):
        crl_server.crls.clear()
        _trusting(online_ca, ckan_config, monkeypatch, tmp_path, mode="soft-fail")
        assert one(pki.sign(form, online_ca.revoked, APPLICANT)).reason == "revoked"


# -- what the sysadmin sees -------------------------------------------------------------------

@pytest.mark.usefixtures("trust")
class TestShown:
    def test_review_page_tells_a_timestamp_from_a_claim(self, app, ca, smtp, deliver):
        with app.flask_app.test_request_context():
            request_id, token = awaiting_document(smtp, deliver)
            form = issued_form(app, request_id, token)
            signed = pki.sign(form, ca.officer, APPLICANT, timestamper=ca.tsa.timestamper())
            upload(request_id, token, pki.sign(signed, ca.superior, SUPERIOR))
            shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
            admin = factories.Sysadmin()
            auth = {"Authorization": factories.APIToken(user=admin["name"])["token"]}
        by_field = {s["field"]: s for s in shown["documents"][0]["signatures"]}
        assert by_field[APPLICANT]["time_source"] == "timestamp"
        assert by_field[APPLICANT]["timestamp_status"] == "trusted"
        assert by_field[APPLICANT]["timestamp_time"]
        assert by_field[SUPERIOR]["time_source"] == "signer"
        assert by_field[SUPERIOR]["timestamp_status"] is None
        assert shown["signatures_verified"] is True
        page = app.get(f"/ckan-admin/dgaaccounts/request/{request_id}", headers=auth).body
        assert page.count('data-time-source="timestamp" data-timestamp="trusted"') == 1
        assert page.count('data-time-source="signer" data-timestamp=""') == 1
        assert "From a timestamp by" in page
        assert "DGA Test Time-Stamping Authority" in page
        assert "Claimed by the signer (no timestamp proves it)" in page
        thai = app.get(f"/th/ckan-admin/dgaaccounts/request/{request_id}", headers=auth).body
        assert "ประทับเวลา" in thai
