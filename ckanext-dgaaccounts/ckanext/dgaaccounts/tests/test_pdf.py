"""Tests for the printable Thai request forms (no CKAN database needed)."""
from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest

from ckanext.dgaaccounts import pdf

ISSUED = datetime.date(2026, 11, 27)
APPLICATION = {
    "reference": "DGA-2026-000123",
    "fullname": "นางสาวพิมพ์ชนก ศรีสุข",
    "username": "pimchanok.s",
    "email": "pimchanok.s@example.go.th",
    "phone": "02-123-4567",
    "position": "นักวิชาการคอมพิวเตอร์ปฏิบัติการ",
    "agency": "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)",
    "superior_name": "นายสมชาย ใจดี",
    "superior_position": "ผู้อำนวยการฝ่ายข้อมูล",
    "issued": ISSUED,
}
CANCELLATION = {
    "reference": "DGA-2026-000456",
    "kind": "cancellation",
    "fullname": "สมชาย ใจดี",
    "username": "somchai",
    "email": "somchai@example.go.th",
    "reason": "ย้ายไปปฏิบัติงานที่หน่วยงานอื่น",
    "memberships": [("กรมการปกครอง", "editor"), ("สำนักงานสถิติแห่งชาติ", "admin")],
    "issued": ISSUED,
}

def test_poppler_is_installed():
    """dev/services.sh installs poppler-utils; without it the tests below cannot check text."""
    assert shutil.which("pdftotext")
    assert shutil.which("pdffonts")


def _run(tool: str, path: Path, *args: str) -> str:
    return subprocess.run(
        [tool, *args, str(path), "-"] if tool == "pdftotext" else [tool, str(path)],
        check=True, capture_output=True, text=True,
    ).stdout


def _text(content: bytes, tmp_path: Path, name: str = "form.pdf") -> str:
    """Write the PDF and return what `pdftotext -layout` reads back from it."""
    assert content.startswith(b"%PDF-")
    path = tmp_path / name
    path.write_bytes(content)
    return _run("pdftotext", path, "-layout")


def test_thai_date_uses_buddhist_era_and_thai_month() -> None:
    assert pdf.thai_date(datetime.date(2026, 11, 27)) == "27 พฤศจิกายน 2569"
    assert pdf.thai_date(datetime.date(2025, 1, 1)) == "1 มกราคม 2568"
    assert pdf.thai_date(datetime.date(2024, 2, 29)) == "29 กุมภาพันธ์ 2567"
    assert pdf.thai_date(datetime.datetime(2026, 12, 31, 23, 59)) == "31 ธันวาคม 2569"


def test_application_form_text_is_extractable(tmp_path: Path) -> None:
    text = _text(pdf.application_form_pdf(APPLICATION), tmp_path)
    for expected in (
        "แบบคำขอลงทะเบียนบัญชีผู้ใช้งานสำหรับเจ้าหน้าที่หน่วยงาน",
        "Agency Officer Account Registration Application Form",
        "DGA-2026-000123",
        "27 พฤศจิกายน 2569",
        "นางสาวพิมพ์ชนก ศรีสุข",
        "( นางสาวพิมพ์ชนก ศรีสุข )",
        "นายสมชาย ใจดี",
        "ผู้อำนวยการฝ่ายข้อมูล",
        "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)",
        "pimchanok.s@example.go.th",
        "ผู้ยื่นคำขอ",
        "ผู้บังคับบัญชา",
        "ชื่อ-นามสกุล (Full name):",
    ):
        assert expected in text, expected


def test_sarabun_is_embedded(tmp_path: Path) -> None:
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf.application_form_pdf(APPLICATION))
    fonts = _run("pdffonts", path)
    assert "Sarabun" in fonts
    assert all(" yes " in line for line in fonts.splitlines()[2:]), fonts


@pytest.mark.parametrize(
    ("kind", "title"),
    [("cancellation", "แบบคำขอยกเลิกบัญชีผู้ใช้งาน"),
     ("suspension", "แบบคำขอระงับบัญชีผู้ใช้งานชั่วคราว")],
)
def test_cancellation_form_text_is_extractable(tmp_path: Path, kind: str, title: str) -> None:
    text = _text(pdf.cancellation_form_pdf({**CANCELLATION, "kind": kind}), tmp_path)
    for expected in (title, "DGA-2026-000456", "2569", "สมชาย ใจดี",
                     "( สมชาย ใจดี )", "กรมการปกครอง", "สำนักงานสถิติแห่งชาติ",
                     "ย้ายไปปฏิบัติงานที่หน่วยงานอื่น"):
        assert expected in text, expected
    assert "ผู้บังคับบัญชา" not in text


def test_cancellation_form_without_memberships_but_with_superior(tmp_path: Path) -> None:
    data = {**CANCELLATION, "memberships": [], "with_superior": True,
            "superior_name": "นางกำไล สำราญใจ", "superior_position": "ผู้อำนวยการกอง"}
    text = _text(pdf.cancellation_form_pdf(data), tmp_path)
    assert "ไม่มี" in text
    assert "( นางกำไล สำราญใจ )" in text  # SARA AM comes back without a stray space
    assert "ผู้อำนวยการกอง" in text


def test_tricky_thai_comes_back_verbatim(tmp_path: Path) -> None:
    # SARA AM, stacked vowel + tone marks, ascender consonants, in bold and regular
    name = "นายน้ำใจ กำพล ที่ปู่ญี่ปุ่น ฝั่งฟื้น ผู้ที่สู่"
    text = _text(pdf.application_form_pdf({**APPLICATION, "fullname": name}), tmp_path)
    assert text.count(name) == 2  # the field (bold) and the signature block


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="deletion"):
        pdf.cancellation_form_pdf({**CANCELLATION, "kind": "deletion"})


def test_metadata_and_determinism() -> None:
    first = pdf.application_form_pdf(APPLICATION)
    assert first == pdf.application_form_pdf(APPLICATION)
    assert b"/CreationDate (D:20261127000000+07'00')" in first
    title = "แบบคำขอลงทะเบียนบัญชีผู้ใช้งานสำหรับเจ้าหน้าที่หน่วยงาน"
    assert b"/Title <feff" + title.encode("utf-16-be").hex().encode() + b">" in first


def test_empty_values_print_placeholders(tmp_path: Path) -> None:
    data = dict.fromkeys(APPLICATION, None) | {"issued": ISSUED}
    text = _text(pdf.application_form_pdf(data), tmp_path)
    assert "........" in text
    assert "27 พฤศจิกายน 2569" in text
    assert pdf.application_form_pdf({}).startswith(b"%PDF-")
    assert pdf.cancellation_form_pdf({"kind": "suspension"}).startswith(b"%PDF-")


def test_untrusted_values_do_not_break_the_form(tmp_path: Path) -> None:
    zalgo = "ก" + "\u0e48" * 50 + "Z\u0301\u0302\u0303\u0304\u0305"
    weird = {
        **APPLICATION,
        "fullname": "สมชาย 😀 ใจดี\u200d\U0001f469\u200d\U0001f4bb\x00\n\t漢字",
        "username": "x" * 5000,
        "email": "a@" + "ก" * 3000 + ".th",
        "agency": ("หน่วยงานที่มีชื่อยาวมาก Very Long Agency Name " * 40),
        "position": zalgo,
        "phone": 123456789,
        "superior_name": "<script>alert(1)</script> **bold** \\) Tj (",
    }
    content = pdf.application_form_pdf(weird)
    text = _text(content, tmp_path)
    # emoji and CJK the font lacks -> "?"; joiners and control characters dropped
    assert "สมชาย ? ใจดี?? ??" in text
    assert "<script>alert(1)</script> **bold** \\) Tj (" in text
    assert "123456789" in text

    data = {**CANCELLATION, "reason": "เหตุผล\n" * 400 + "🙏" * 100,
            "memberships": [("😀" * 300, "owner\x07"), ("", None)] * 30,
            "with_superior": True, "superior_name": None}
    text = _text(pdf.cancellation_form_pdf(data), tmp_path, "cancel.pdf")
    assert "สมชาย ใจดี" in text


def test_clean() -> None:
    assert pdf._clean(None) == ""
    assert pdf._clean(" a \n b\tc ") == "a b c"
    assert pdf._clean("a\nb", multiline=True) == "a\nb"
    assert pdf._clean("ok 😀") == "ok ?"
    assert pdf._clean("ก" + "\u0e34\u0e48\u0e49\u0e4a") == "ก\u0e34\u0e48"
    assert pdf._clean("x" * 500, limit=10) == "x" * 9 + "…"
