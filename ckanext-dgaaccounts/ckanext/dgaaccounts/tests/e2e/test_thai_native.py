"""Issue 12 in a real browser (Debian's Chromium through Playwright), Thai and English, at a
desktop (1366x900) and a phone (390x844) width: times in Bangkok written the Thai way,
confirmed decisions, and axe-core on every page the extension renders."""
from __future__ import annotations

import re

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration
from ckanext.dgaaccounts.tests.e2e.conftest import (
    TIMEOUT_MS, WIDTHS, fresh, in_view, login, state, submit,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok"),
    pytest.mark.usefixtures("with_plugins"),
]

ADMIN_PASSWORD = "Sysadmin-Passw0rd-42"
OFFICER_PASSWORD = "Officer-Pass-42"
THAI_STAMP = re.compile(r"\d{1,2} \S+\. 25\d\d เวลา \d\d:\d\d น\.")
ENGLISH_STAMP = re.compile(r"\d{1,2} [A-Z][a-z]{2} 20\d\d, \d\d:\d\d \(ICT\)")


@pytest.fixture
def page_at(open_page):
    """A page of the given viewport, in Thai, in a fresh context (only the live site)."""
    return lambda viewport: open_page(viewport, "th-TH")


def _submitted_request(smtp, deliver, **overrides) -> str:
    result = helpers.call_action("dgaaccounts_agency_register", **registration(**overrides))
    deliver()
    token = smtp.link(overrides.get("email", "somchai@dga.or.th"))
    verified = helpers.call_action("dgaaccounts_email_verify", token=token)
    helpers.call_action("dgaaccounts_request_document_upload", id=result["request_id"],
                        token=verified["applicant_token"], signed_form=Upload(PDF, "form.pdf"))
    return result["request_id"]


@pytest.fixture
def world(live_server, smtp, deliver):
    """An organization, a sysadmin, an officer, and a submitted agency registration."""
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    factories.Sysadmin(name="portal-admin", email="admin@example.go.th",
                       password=ADMIN_PASSWORD, image_url="")
    factories.User(name="officer", email="officer@dga.or.th", password=OFFICER_PASSWORD,
                   image_url="")
    request_id = _submitted_request(smtp, deliver, organization="dga")
    model.Session.commit()
    fresh()
    return {"request_id": request_id}


@pytest.mark.parametrize("width", list(WIDTHS))
def test_sysadmin_sees_bangkok_time_and_confirms_a_rejection(page_at, live_server, world,
                                                             width):
    page = page_at(WIDTHS[width])
    login(page, live_server, "portal-admin", ADMIN_PASSWORD)
    url = f"/ckan-admin/dgaaccounts/request/{world['request_id']}"

    page.goto(live_server("/th" + url), wait_until="domcontentloaded")
    thai = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    assert THAI_STAMP.search(thai), "Thai page shows Buddhist-era times"
    page.goto(live_server(url), wait_until="domcontentloaded")
    assert ENGLISH_STAMP.search(page.inner_text("body")), "English page shows ICT times"

    # Three separate, labelled decision sections.
    for name in ("approve", "return", "reject"):
        section = page.locator(f"#dgaaccounts-decision-{name}")
        assert section.count() == 1
        assert section.locator("h3").inner_text().strip()
    # One after the other, never overlapping, each with its own border (measured at once).
    boxes = page.evaluate("""['approve', 'return', 'reject'].map(n => {
        const el = document.getElementById('dgaaccounts-decision-' + n);
        const r = el.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, border: getComputedStyle(el).borderLeftWidth};
    })""")
    assert boxes[0]["bottom"] <= boxes[1]["top"]
    assert boxes[1]["bottom"] <= boxes[2]["top"]
    assert all(b["border"] == "6px" for b in boxes)

    # Reject without the box: the browser does not send it; nothing changes.
    page.fill("#field-reject-reason", "ไม่ใช่เจ้าหน้าที่ของหน่วยงาน")
    assert "pending account" in page.inner_text("#dgaaccounts-consequence-reject")
    in_view(page, "#dgaaccounts-reject").click()
    assert page.url == live_server(url)
    assert state(page) == "submitted"
    page.focus("#field-confirm-reject")
    page.keyboard.press("Space")
    assert page.is_checked("#field-confirm-reject")
    submit(page, "#dgaaccounts-reject")
    assert state(page) == "rejected"
    fresh()
    assert model.Session.get(Request, world["request_id"]).state == "rejected"


def _pages(world) -> list[tuple[str, str]]:
    """(who, path) of every page the extension renders."""
    rid = world["request_id"]
    return [
        ("anonymous", "/dgaaccounts/register"),
        ("anonymous", "/dgaaccounts/register/agency"),
        ("anonymous", "/dgaaccounts/register/developer"),
        ("anonymous", "/dgaaccounts/register/sent"),
        ("anonymous", "/dgaaccounts/resend"),
        ("anonymous", "/dgaaccounts/verify/not-a-real-token"),
        ("officer", "/dgaaccounts/account/close"),
        ("sysadmin", f"/dgaaccounts/request/{rid}"),
        ("sysadmin", "/ckan-admin/dgaaccounts/"),
        ("sysadmin", f"/ckan-admin/dgaaccounts/request/{rid}"),
        ("sysadmin", "/ckan-admin/dgaaccounts/report"),
        ("sysadmin", "/ckan-admin/dgaaccounts/audit"),
    ]


def _serious(results) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def _shot_name(path: str, lang: str = "th") -> str:
    """th-admin-request.png for /ckan-admin/dgaaccounts/request/<id> (en-... in English)."""
    words = [w for w in path.replace("ckan-admin/dgaaccounts", "admin").split("/")
             if w and w != "dgaaccounts" and not re.fullmatch(r"[0-9a-f-]{36}|not-a-real-token", w)]
    name = "-".join(words)
    return f"{lang}-" + {"admin": "admin-queue"}.get(name, name) + ".png"


@pytest.mark.parametrize("prefix", ["/th", ""], ids=["th", "en"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_passes_axe_in_both_languages_at_both_widths(page_at, live_server, world,
                                                                screenshot_dir, width, prefix):
    """One language at one width per test (four in all, which the test workers share)."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    problems: dict[str, list[str]] = {}
    checked = 0
    viewport = WIDTHS[width]
    pages = {"anonymous": page_at(viewport), "officer": page_at(viewport),
             "sysadmin": page_at(viewport)}
    login(pages["officer"], live_server, "officer", OFFICER_PASSWORD)
    login(pages["sysadmin"], live_server, "portal-admin", ADMIN_PASSWORD)
    for who, path in _pages(world):
        page = pages[who]
        # "domcontentloaded": a page framing a PDF may never fire "load" in headless
        # Chromium; the machine is shared, hence the longer wait.
        response = page.goto(live_server(prefix + path), wait_until="domcontentloaded",
                             timeout=3 * TIMEOUT_MS)
        assert response is not None
        assert response.status < 400, f"{prefix + path}: {response.status}"
        key = f"{width} {prefix or '/en'}{path}"
        found = _serious(axe.run(page))
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            found.append(f"horizontal overflow of {overflow}px")
        # No empty sidebar: a column shown with nothing in it.
        empty = page.evaluate("""[...document.querySelectorAll('aside.secondary')]
            .filter(a => a.offsetWidth > 0 && !a.innerText.trim()).length""")
        if empty:
            found.append("an empty sidebar")
        if found:
            problems[key] = found
        checked += 1
        if width == "desktop":  # the README's screenshots, Thai and English
            page.evaluate("window.scrollTo(0, 0)")
            lang = "th" if prefix == "/th" else "en"
            page.screenshot(path=f"{screenshot_dir}/{_shot_name(path, lang)}")
    assert checked == len(_pages(world))
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


@pytest.mark.parametrize("prefix", ["/th", ""], ids=["th", "en"])
def test_a_review_page_with_a_long_reason_fits_a_phone(page_at, live_server, world, prefix):
    """A return reason with a long URL, and a long actor name, in the review page's summary and
    history: nothing makes the page scroll sideways at 390 px."""
    factories.Sysadmin(name="portal-admin-" + "k" * 80, email="long@example.go.th")
    reason = ("โปรดแนบแบบฟอร์มที่ลงนามแล้วตามตัวอย่างที่ https://data.go.th/dataset/"
              + "ตัวอย่าง-แบบฟอร์ม-" * 8 + "?download=true&format=pdf")
    helpers.call_action("dgaaccounts_request_return", {"user": "portal-admin-" + "k" * 80},
                        id=world["request_id"], reason=reason)
    fresh()
    page = page_at(WIDTHS["phone"])
    login(page, live_server, "portal-admin", ADMIN_PASSWORD)
    page.goto(live_server(f"{prefix}/ckan-admin/dgaaccounts/request/{world['request_id']}"),
              wait_until="domcontentloaded", timeout=3 * TIMEOUT_MS)
    assert "https://data.go.th/dataset/" in page.inner_text("#dgaaccounts-history")
    assert page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
