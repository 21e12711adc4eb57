"""An officer registered from a verified identity, whose full name is "ไทย / English", signs
the form with a certificate in either name: the signature is the applicant's, and the request
gets verified signatures."""
from __future__ import annotations

import io

import pytest

import ckan.model as model
from ckan.tests import factories, helpers as ckan_helpers

from ckanext.dgaaccounts import pdf
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests import pki
from ckanext.dgaaccounts.tests.oidc.helpers import callback, csrf
from ckanext.dgaaccounts.tests.oidc.test_registration import FORM

pytestmark = pytest.mark.usefixtures("clean_db", "oidc", "smtp")
APPLICANT, SUPERIOR = pdf.SIGNATURE_FIELDS


@pytest.mark.usefixtures("trust")
@pytest.mark.parametrize("signer", ["สมชาย ใจดี", "Mr. Somchai Jaidee"])
def test_the_thai_or_english_name_signs_as_the_applicant(app, ca, signer):
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล", extras=[
        {"key": "dgaaccounts_organization_id", "value": "0994000164882"}])
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/agency").body
    client.post("/user/oidc/register/agency", data={**FORM, "_csrf_token": csrf(page)})
    [req] = model.Session.query(Request).all()
    assert model.User.get(req.user_id).fullname == "สมชาย ใจดี / Somchai Jaidee"
    form = client.get(f"/dgaaccounts/request/{req.id}/form.pdf").data
    officer = pki.identity(signer, ca.intermediate)
    signed = pki.sign(pki.sign(form, officer, APPLICANT), ca.superior, SUPERIOR)
    response = client.post(f"/dgaaccounts/request/{req.id}/upload", data={
        "_csrf_token": csrf(page), "signed_form": (io.BytesIO(signed), "signed.pdf")},
        content_type="multipart/form-data")
    assert "sent for review" in response.body
    shown = ckan_helpers.call_action("dgaaccounts_request_show",
                                     context={"user": factories.Sysadmin()["name"]}, id=req.id)
    [doc] = shown["documents"]
    assert [(s["field"], s["matched"], s["reason"]) for s in doc["signatures"]] == [
        (APPLICANT, "applicant", "ok"), (SUPERIOR, "superior", "ok")]
    assert shown["signatures_verified"] is True
