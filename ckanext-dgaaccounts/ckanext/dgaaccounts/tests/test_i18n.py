"""The Thai translation: complete, compiled, covering every marked string, used by pages and mail.

To add or change strings: run dev/i18n.sh (extract -> update -> compile), translate what it left
empty or fuzzy in i18n/th/LC_MESSAGES/ckanext-dgaaccounts.po, then run dev/i18n.sh compile.
"""
from __future__ import annotations

import gettext
import io
import os
import re
import subprocess
import sys

import polib
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import escape

from ckanext.dgaaccounts import mail

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(PACKAGE)))
I18N = os.path.join(PACKAGE, "i18n")
DOMAIN = "ckanext-dgaaccounts"
PO = os.path.join(I18N, "th", "LC_MESSAGES", DOMAIN + ".po")
MO = os.path.join(I18N, "th", "LC_MESSAGES", DOMAIN + ".mo")

_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
_THAI = re.compile(r"[\u0E00-\u0E7F]")
FIX = "run dev/i18n.sh, translate the .po, then dev/i18n.sh compile"
# msgids whose right Thai rendering has no Thai letter (e.g. a product name); none so far.
NOT_THAI: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    return polib.pofile(PO)


def _thai(po: polib.POFile, msgid: str) -> str:
    entry = po.find(msgid)
    assert entry is not None, f"{msgid!r} is not in the catalog"
    assert entry.msgstr, f"{msgid!r} is not translated"
    return entry.msgstr


# -- the catalog ---------------------------------------------------------------------------

class TestCatalog:
    def test_header(self, po):
        assert po.metadata["Language"] == "th"
        assert po.metadata["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
        assert "utf-8" in po.metadata["Content-Type"].lower()

    def test_every_entry_is_translated_and_none_is_fuzzy(self, po):
        untranslated = [e.msgid for e in po.untranslated_entries()]
        fuzzy = [e.msgid for e in po.fuzzy_entries()]
        assert not untranslated, f"untranslated ({FIX}): {untranslated}"
        assert not fuzzy, f"fuzzy ({FIX}): {fuzzy}"
        assert po.percent_translated() == 100

    def test_plurals_have_the_single_thai_form(self, po):
        plurals = [e for e in po if e.msgid_plural and not e.obsolete]
        assert plurals
        for entry in plurals:
            assert set(entry.msgstr_plural) == {0}, entry.msgid
            assert entry.msgstr_plural[0], entry.msgid

    def test_placeholders_are_kept(self, po):
        # Jinja's newstyle gettext always %-formats: a lost or extra placeholder, or a lone "%",
        # breaks the page or the email at render time.
        for entry in po:
            if entry.obsolete:
                continue
            source = entry.msgid_plural or entry.msgid
            wanted = sorted(set(_PLACEHOLDER.findall(source)))
            strings = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
            for text in strings:
                assert sorted(set(_PLACEHOLDER.findall(text))) == wanted, entry.msgid
                assert "%" not in _PLACEHOLDER.sub("", text).replace("%%", ""), entry.msgid

    def test_translations_are_thai(self, po):
        for entry in po:
            if entry.obsolete or entry.msgid in NOT_THAI:
                continue
            text = entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr
            assert _THAI.search(text), f"not Thai: {entry.msgid!r} -> {text!r}"

    def test_mo_is_compiled_from_the_po(self, tmp_path):
        with open(PO, "rb") as f:
            catalog = read_po(f, locale="th", domain=DOMAIN)
        fresh = io.BytesIO()
        write_mo(fresh, catalog, use_fuzzy=False)
        fresh.seek(0)
        expected = gettext.GNUTranslations(fresh)._catalog  # type: ignore[attr-defined]
        with open(MO, "rb") as f:
            actual = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        expected = {k: v for k, v in expected.items() if k != ""}  # the header: dates only
        actual = {k: v for k, v in actual.items() if k != ""}
        assert actual == expected, f"the .mo is stale: {FIX}"


# -- coverage of the sources ---------------------------------------------------------------

def test_every_marked_string_is_in_the_catalog(tmp_path, po):
    """Extract the marked strings now, as dev/i18n.sh does; each must be in the .po."""
    assert os.path.exists(os.path.join(REPO, "setup.py")), "run the tests from a source checkout"
    pot = tmp_path / "extracted.pot"
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "extract_messages", "--output-file", str(pot)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    extracted = polib.pofile(str(pot))
    assert len(extracted) > 100  # the extractors found the Python, HTML and email templates
    files = {path for e in extracted for path, _line in e.occurrences}
    assert any(p.endswith(".py") for p in files)
    assert any(p.endswith(".html") for p in files)
    assert any(p.endswith(".txt") for p in files)

    known = {(e.msgctxt, e.msgid, e.msgid_plural) for e in po if not e.obsolete}
    missing = [
        f"{e.msgid!r} ({', '.join(p + ':' + n for p, n in e.occurrences)})"
        for e in extracted if (e.msgctxt, e.msgid, e.msgid_plural) not in known
    ]
    assert not missing, f"not in the Thai catalog ({FIX}):\n" + "\n".join(missing)


# -- a page in Thai ------------------------------------------------------------------------

@pytest.mark.ckan_config("ckan.plugins", "dgaaccounts")
@pytest.mark.usefixtures("with_plugins", "clean_db")
class TestPages:
    def test_register_chooser_in_thai(self, app, po):
        res = app.get("/th/dgaaccounts/register")
        assert res.status_code == 200
        html = res.get_data(as_text=True)
        assert str(escape(_thai(po, "I work for a government agency"))) in html
        assert str(escape(_thai(po, "Register as an agency officer"))) in html
        assert "I work for a government agency" not in html

    @pytest.mark.parametrize(("path", "shown"), [
        ("/user/login", ["Skip to main content", "Username or Email"]),
        ("/user/reset", ["Email or username", "Request Reset"]),
    ])
    def test_ckans_own_strings_on_the_pages_people_meet_are_thai(self, app, po, path, shown):
        """(core_messages.py: CKAN ships them untranslated in Thai.)"""
        html = app.get("/th" + path).get_data(as_text=True)
        for message in shown:
            assert str(escape(_thai(po, message))) in html, message
            assert f">{message}<" not in html
        assert all(message in app.get(path).get_data(as_text=True) for message in shown)

    def test_register_chooser_in_english(self, app):
        res = app.get("/dgaaccounts/register")
        assert res.status_code == 200
        assert "I work for a government agency" in res.get_data(as_text=True)


# -- an email in Thai ----------------------------------------------------------------------

def _context() -> dict:
    return {
        "site_url": "https://data.example.go.th",
        "site_title": "Open Data Portal",
        "name": "สมชาย ใจดี",
        "params": {},
        "request": {
            "reference": "DGA-2026-000042", "kind": "agency_registration",
            "state": "awaiting_verification", "username": "somchai", "due": "",
            "admin_url": "https://data.example.go.th/ckan-admin/dgaaccounts/request/x",
        },
        "link": "https://data.example.go.th/dgaaccounts/verify/secret-token",
    }


def test_email_in_thai_and_english(po):
    th_subject, th_body = mail.render("verify_agency", "th", _context())
    assert th_subject == _thai(po, "Confirm your email address for %(site)s") % {
        "site": "Open Data Portal"}
    assert _THAI.search(th_subject)
    assert (_thai(po, "Dear %(name)s,") % {"name": "สมชาย ใจดี"}) in th_body
    assert "DGA-2026-000042" in th_body
    assert "https://data.example.go.th/dgaaccounts/verify/secret-token" in th_body
    assert "Open this link" not in th_body

    en_subject, en_body = mail.render("verify_agency", "en", _context())
    assert en_subject == "Confirm your email address for Open Data Portal"
    assert en_body.startswith("Dear สมชาย ใจดี,")
    assert not _THAI.search(en_subject)
    assert "https://data.example.go.th/dgaaccounts/verify/secret-token" in en_body


_EMAILS = sorted(
    name[:-4] for name in os.listdir(os.path.join(PACKAGE, "templates", "dgaaccounts", "emails"))
    if name.endswith(".txt") and not name.startswith("_")  # "_x.txt": a part others include
)


@pytest.mark.parametrize("template", _EMAILS)
def test_every_email_renders_in_thai_and_english(template):
    ctx = _context()
    ctx["params"] = {"note": "หมายเหตุทดสอบ", "username": "somchai"}
    ctx["request"]["due"] = "2026-12-01 10:00 UTC"
    th_subject, th_body = mail.render(template, "th", ctx)
    en_subject, en_body = mail.render(template, "en", ctx)
    assert th_subject
    assert en_subject
    assert _THAI.search(th_subject), f"{template}: subject not in Thai: {th_subject!r}"
    assert not _THAI.search(en_subject), f"{template}: English subject: {en_subject!r}"
    assert th_subject != en_subject
    assert th_body != en_body
