"""Issue 12 in a real browser (Debian's Chromium through Playwright), Thai and English: the
agency field, phone numbers with an extension (pages and PDF), the username rules and the
show-password toggle, messages in the page's language, a suspended profile, spam sign-ups,
and, at a desktop (1366x900) and a phone (390x844) width, error contrast, the focus ring, the
report chart's labels and the audit table."""
from __future__ import annotations

import re
import subprocess

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import account
from ckanext.dgaaccounts.model import AuditEvent, Request
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration
from ckanext.dgaaccounts.tests.e2e.conftest import (
    TIMEOUT_MS, WIDTHS, fresh, login, state, submit, tick,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok"),
    pytest.mark.usefixtures("with_plugins"),
]

ADMIN_PASSWORD = "Sysadmin-Passw0rd-42"
DGA_TH = "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)"
DGA_EN = "Digital Government Development Agency"
NSO_TH = "สำนักงานสถิติแห่งชาติ"
NSO_EN = "National Statistical Office"
THAI = re.compile(r"[\u0e00-\u0e7f]")
# CKAN's own words that must never reach the extension's pages.
RAW = ("Missing value", "ค่าที่ขาดหาย", "purely lowercase", "signed_form", "agency_name:",
       "superior_name", "kind:")


@pytest.fixture
def page_at(open_page):
    """A page of the given viewport and language in a fresh context (only the live site)."""
    return lambda viewport=None, locale="th-TH": open_page(viewport or WIDTHS["desktop"], locale)


@pytest.fixture
def orgs(live_server):
    dga = factories.Organization(name="dga", title=DGA_TH,
                                 extras=[{"key": "title_en", "value": DGA_EN}])
    nso = factories.Organization(name="nso", title=NSO_TH,
                                 extras=[{"key": "title_en", "value": NSO_EN}])
    factories.Sysadmin(name="portal-admin", email="admin@example.go.th",
                       password=ADMIN_PASSWORD, image_url="")
    model.Session.commit()
    fresh()
    return {"dga": dga["id"], "nso": nso["id"]}


def _prefix(lang: str) -> str:
    return "/th" if lang == "th" else "/en"


def _fill(page, **values: str) -> None:
    for field, value in values.items():
        page.fill(f"[name={field}]", value)


def _goto(page, url: str) -> None:
    # The machine is shared: a first page (its assets not yet cached) may take a while.
    page.goto(url, wait_until="domcontentloaded", timeout=3 * TIMEOUT_MS)


def _body(page) -> str:
    return page.inner_text("body")


def _request_by_email(email: str) -> Request:
    fresh()
    return model.Session.query(Request).filter(Request.email == email).one()


# -- 1-3: the agency, the phone, the username rules and the password --------------------------

CASES = {
    # lang: (agency typed by hand, phone typed, phone kept, username rule words)
    "th": (NSO_TH, "02 612 6000 ต่อ 1234", "02 612 6000 ต่อ 1234",
           "อักษรภาษาอังกฤษตัวพิมพ์เล็ก"),
    "en": ("national statistical  office", "02-612-6000  ext. 1234", "02-612-6000 ext. 1234",
           "lowercase English letters"),
}


@pytest.mark.parametrize("lang", list(CASES))
def test_an_officer_registers_the_thai_way(page_at, live_server, orgs, smtp, deliver, lang):
    typed_agency, typed_phone, kept_phone, rule_words = CASES[lang]
    page = page_at()
    _goto(page, live_server(_prefix(lang) + "/dgaaccounts/register/agency"))

    # The username rules are on the page before anything is typed, in its language.
    rules = page.inner_text("#dgaaccounts-username-rules")
    assert rule_words in rules
    assert page.get_attribute("#field-username", "aria-describedby") == (
        "dgaaccounts-username-rules")

    # The type-ahead offers titles, Thai and English; never a URL name.
    options = page.eval_on_selector_all(
        "#dgaaccounts-organizations option", "os => os.map(o => [o.value, o.label])")
    values = {v for v, _label in options}
    assert {DGA_TH, DGA_EN, NSO_TH, NSO_EN} <= values
    assert not values & {"dga", "nso", orgs["dga"], orgs["nso"]}
    assert page.get_attribute("#field-organization", "list") == "dgaaccounts-organizations"

    # "Not listed" is a choice of its own: it swaps the fields (the hidden one is not sent).
    assert page.is_visible("#field-organization")
    assert not page.is_visible("#field-agency-name")
    page.check("#field-agency-listed-no")
    assert page.is_visible("#field-agency-name")
    assert not page.is_visible("#field-organization")
    assert page.is_disabled("#field-organization")
    page.check("#field-agency-listed-yes")
    assert page.is_visible("#field-organization")

    # A first try with a Thai username: every field keeps its value but the password.
    _fill(page, fullname="สมศรี มีสุข", name="สมศรี", email="somsri@dga.or.th",
          password="Correct-Horse-42", organization=typed_agency, position="นักสถิติ",
          phone=typed_phone, superior_name="นายใหญ่ ใจดี", superior_position="ผู้อำนวยการ")
    submit(page, "#dgaaccounts-register-submit")
    body = _body(page)
    assert not [raw for raw in RAW if raw in body], body
    username_error = page.locator(".form-group:has(#field-username) .error-block").inner_text()
    assert rule_words in username_error
    if lang == "th":
        assert THAI.search(username_error)
    for field, value in (("fullname", "สมศรี มีสุข"), ("email", "somsri@dga.or.th"),
                         ("position", "นักสถิติ"), ("phone", typed_phone),
                         ("superior_name", "นายใหญ่ ใจดี")):
        assert page.input_value(f"[name={field}]") == value, field
    assert page.input_value("#field-organization") == typed_agency
    assert page.input_value("#field-password") == ""
    assert page.is_visible("#dgaaccounts-password-again")

    # The show-password toggle: the person sees what they typed, then hides it again.
    page.fill("#field-username", "somsri")
    page.fill("#field-password", "Correct-Horse-42")
    toggle = page.locator("#dgaaccounts-reveal-password")
    assert toggle.is_visible()
    toggle.click()
    assert page.get_attribute("#field-password", "type") == "text"
    assert toggle.get_attribute("aria-pressed") == "true"
    toggle.click()
    assert page.get_attribute("#field-password", "type") == "password"
    submit(page, "#dgaaccounts-register-submit")
    assert "/dgaaccounts/register/sent" in page.url, _body(page)

    req = _request_by_email("somsri@dga.or.th")
    assert req.organization_id == orgs["nso"]
    assert req.details["phone"] == kept_phone
    assert "agency_name" not in req.details


def test_an_agency_not_listed_is_an_explicit_choice(page_at, live_server, orgs):
    page = page_at()
    _goto(page, live_server("/th/dgaaccounts/register/agency"))
    _fill(page, fullname="สมชาย ใจดี", name="somchai", email="somchai@dga.or.th",
          password="Correct-Horse-42", organization="สำนักงาน", position="นักวิชาการ",
          phone="026126000 #1234", superior_name="นายใหญ่ ใจดี",
          superior_position="ผู้อำนวยการ")
    # Text found in two titles is not taken for either: the page asks to choose.
    submit(page, "#dgaaccounts-register-submit")
    assert "/register/agency" in page.url
    assert page.is_visible("#dgaaccounts-agency-listed .error-block")
    # The officer says the agency is not listed and names it; what was in the box is not sent.
    page.check("#field-agency-listed-no")
    page.fill("#field-agency-name", "สำนักงานใหม่แห่งชาติ")
    page.fill("#field-password", "Correct-Horse-42")
    submit(page, "#dgaaccounts-register-submit")
    assert "/dgaaccounts/register/sent" in page.url, _body(page)
    req = _request_by_email("somchai@dga.or.th")
    assert req.organization_id is None
    assert req.details["agency_name"] == "สำนักงานใหม่แห่งชาติ"
    assert req.details["phone"] == "026126000 #1234"


def _pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                          check=True).stdout.decode("utf-8")


@pytest.mark.parametrize(("lang", "phone"), [("th", "02 612 6000 ต่อ 1234"),
                                             ("en", "02 612 6000 ext. 1234")])
def test_the_phone_is_printed_as_typed_on_the_pages_and_in_the_form(
        page_at, live_server, orgs, smtp, deliver, lang, phone):
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        organization="dga", agency_name="", phone=phone))
    model.Session.commit()
    fresh()
    page = page_at()
    login(page, live_server, "portal-admin", ADMIN_PASSWORD)
    _goto(page, live_server(_prefix(lang) + f"/ckan-admin/dgaaccounts/request/"
                                            f"{result['request_id']}"))
    assert phone in _body(page)
    # The agency is shown by its title on the sysadmin's page, never by its URL name.
    assert DGA_TH in _body(page)
    response = page.request.get(live_server(
        f"/dgaaccounts/request/{result['request_id']}/form.pdf"))
    assert response.status == 200
    text = " ".join(_pdf_text(response.body()).split())
    assert "02 612 6000" in text
    assert "1234" in text
    if lang == "en":
        assert "02 612 6000 ext. 1234" in text


# -- 4: no raw field names, translated messages, radio labels, preselected kind ------------------

@pytest.mark.parametrize("lang", ["th", "en"])
def test_account_and_upload_pages_speak_the_pages_language(page_at, live_server, orgs, smtp,
                                                            deliver, lang):
    factories.User(name="closer", email="closer@example.com", password="Closer-Pass-42",
                   image_url="")
    model.Session.commit()
    page = page_at()
    login(page, live_server, "closer", "Closer-Pass-42")
    _goto(page, live_server(_prefix(lang) + "/dgaaccounts/account/close?kind=suspension"))
    # A link that says what is wanted preselects it; labels are words without punctuation.
    assert page.is_checked("#field-kind-suspension")
    assert not page.is_checked("#field-kind-cancellation")
    for value in ("cancellation", "suspension"):
        label = page.inner_text(f"label[for=field-kind-{value}]").strip()
        assert label
        assert not re.search(r"[—–:;,.\-]\s*$|^\s*[—–:;,.\-]", label), label
        assert page.get_attribute(f"#field-kind-{value}", "aria-describedby")
    # Sent without a reason: the error is in the page's language, with no raw field name.
    _goto(page, live_server(_prefix(lang) + "/dgaaccounts/account/close"))
    page.check("#field-kind-cancellation")
    page.evaluate("document.getElementById('field-reason').removeAttribute('required')")
    submit(page, "#dgaaccounts-account-close-submit")
    body = _body(page)
    assert not [raw for raw in RAW if raw in body], body
    reason_error = page.inner_text(".error-block")
    assert reason_error.strip()
    assert bool(THAI.search(reason_error)) == (lang == "th"), reason_error

    # An upload sent without a file: the message names the field in words.
    page.fill("#field-reason", "ย้ายงาน")
    submit(page, "#dgaaccounts-account-close-submit")
    assert "/dgaaccounts/request/" in page.url
    request_path = page.url.split(live_server.url, 1)[1].split("/dgaaccounts/", 1)[1]
    _goto(page, live_server(_prefix(lang) + "/dgaaccounts/" + request_path))
    page.evaluate("document.getElementById('field-signed-form').removeAttribute('required')")
    submit(page, "#dgaaccounts-upload-submit")
    body = _body(page)
    assert not [raw for raw in RAW if raw in body], body
    flash = page.inner_text(".flash-messages, .alert-danger, .alert-error")
    assert bool(THAI.search(flash)) == (lang == "th"), flash


# -- 5: a suspended profile, reactivation there, the user's requests; spam sign-ups ------------

@pytest.mark.parametrize("lang", ["th", "en"])
def test_sysadmin_reactivates_from_the_profile_and_rejects_spam(page_at, live_server, orgs,
                                                                smtp, deliver, lang):
    paused = factories.User(name="paused", email="paused@example.com", image_url="")
    user = model.User.get(paused["id"])
    account.suspend(user)
    model.Session.add(Request(reference="DGA-2026-004242", kind="suspension", state="approved",
                              user_id=user.id, email="paused@example.com", locale="th"))
    spam = helpers.call_action("dgaaccounts_agency_register", **registration(
        name="spammer", email="spam@dga.or.th"))
    model.Session.commit()
    fresh()
    page = page_at()
    login(page, live_server, "portal-admin", ADMIN_PASSWORD)

    _goto(page, live_server(_prefix(lang) + "/user/paused"))
    status = page.inner_text("#dgaaccounts-user-state")
    assert status.strip() == ("ถูกระงับการใช้งาน" if lang == "th" else "suspended")
    assert "pending" not in page.inner_text("aside")
    requests = page.inner_text("#dgaaccounts-user-requests")
    assert "DGA-2026-004242" in requests
    submit(page, "#dgaaccounts-reactivate")
    assert page.url.endswith(f"/user/{paused['id']}")  # back on the profile
    fresh()
    assert model.User.by_name("paused").state == "active"
    assert not page.locator("#dgaaccounts-user-state").count()

    # A sign-up that never confirmed its address: rejected as spam, with the box ticked.
    url = _prefix(lang) + f"/ckan-admin/dgaaccounts/request/{spam['request_id']}"
    _goto(page, live_server(url))
    assert state(page) == "awaiting_verification"
    assert page.inner_text("#dgaaccounts-consequence-reject_spam").strip()
    tick(page, "#field-confirm-reject_spam")
    submit(page, "#dgaaccounts-reject-spam")
    assert state(page) == "rejected"
    fresh()
    req = model.Session.get(Request, spam["request_id"])
    assert req.state == "rejected"
    assert model.User.get(req.user_id).state == "deleted"
    assert model.Session.query(AuditEvent).filter(
        AuditEvent.request_id == req.id, AuditEvent.action == "reject_spam").count() == 1


# -- 6: contrast of error text, the focus ring, the chart's labels, the audit table -------------

_CONTRAST = """el => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let bg = el, color = getComputedStyle(el).backgroundColor;
  while (bg && (color === 'rgba(0, 0, 0, 0)' || color === 'transparent')) {
    bg = bg.parentElement; color = bg ? getComputedStyle(bg).backgroundColor : 'rgb(255,255,255)';
  }
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(rgb(color));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

_OVERLAPS = """svg => {
  const boxes = [...svg.querySelectorAll(':scope > text')]
    .filter(t => Number(t.getAttribute('y')) > Number(svg.viewBox.baseVal.height) - 20)
    .map(t => t.getBoundingClientRect());
  let overlaps = 0;
  for (let i = 1; i < boxes.length; i++) if (boxes[i].left < boxes[i - 1].right) overlaps++;
  return {labels: boxes.length, overlaps};
}"""


@pytest.mark.parametrize("lang", ["th", "en"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_errors_focus_chart_and_audit_read_well(page_at, live_server, orgs, smtp, deliver,
                                               width, lang):
    # Decisions over many weeks, and an uploaded scan, so the chart and the audit log are full.
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        organization="dga", agency_name=""))
    deliver()
    verified = helpers.call_action("dgaaccounts_email_verify",
                                   token=smtp.link("somchai@dga.or.th"))
    helpers.call_action("dgaaccounts_request_document_upload", id=result["request_id"],
                        token=verified["applicant_token"], signed_form=Upload(PDF, "form.pdf"))
    model.Session.commit()
    fresh()
    prefix = _prefix(lang)
    page = page_at(WIDTHS[width])

    # Error text under a field: at least 4.5:1.
    _goto(page, live_server(prefix + "/dgaaccounts/register/developer"))
    page.evaluate("document.querySelectorAll('[required]').forEach(e => "
                  "e.removeAttribute('required'))")
    submit(page, "form#dgaaccounts-developer-form button[type=submit]")
    errors = page.locator(".error-block")
    assert errors.count() >= 3
    for i in range(errors.count()):
        assert errors.nth(i).evaluate(_CONTRAST) >= 4.5
    body = _body(page)
    assert not [raw for raw in RAW if raw in body], body

    # The keyboard focus ring: thick and dark, with a halo.
    page.focus("#field-fullname")
    page.keyboard.press("Tab")
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return {id: document.activeElement.id, width: parseFloat(s.outlineWidth),
                style: s.outlineStyle, shadow: s.boxShadow}; }""")
    assert ring["id"] == "field-username"
    assert ring["width"] >= 3
    assert ring["style"] == "solid"
    assert "255, 221, 0" in ring["shadow"]

    login(page, live_server, "portal-admin", ADMIN_PASSWORD)
    # The report's chart over two years of weeks: its labels never overlap, at any width.
    _goto(page, live_server(prefix + "/ckan-admin/dgaaccounts/report?since=2025-01-01"
                                     "&period=week"))
    for svg in page.locator("figure.dgaaccounts-chart svg").all():
        found = svg.evaluate(_OVERLAPS)
        assert found["labels"] >= 2
        assert found["overlaps"] == 0, found

    # The audit log: the scan's sha256 wraps inside its cell.
    _goto(page, live_server(prefix + "/ckan-admin/dgaaccounts/audit"))
    cells = page.locator("#dgaaccounts-audit td:last-child")
    widest = max(cells.nth(i).evaluate("td => td.scrollWidth - td.clientWidth")
                 for i in range(cells.count()))
    assert widest <= 1
    assert "sha256" in page.inner_text("#dgaaccounts-audit")
