"""Pre-filled, printable Thai request forms (PDF) that users sign, scan and upload.

The forms are drawn with fpdf2 using the Sarabun font shipped by the
``fontpkg-sarabun`` package, with HarfBuzz text shaping switched on so that Thai
vowels and tone marks are positioned correctly. Every value placed on a form is
treated as untrusted text: it is normalised, characters the font cannot draw are
replaced, and over-long values are cut so the layout cannot be broken.
"""
from __future__ import annotations

import datetime
import functools
import hashlib
import io
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import fontpkg
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.output import OutputProducer
import pikepdf

from . import timefmt

__all__ = ["thai_date", "application_form_pdf", "cancellation_form_pdf"]

FONT = "Sarabun"
PLACEHOLDER = "." * 40
SIGNATURE_GAP = 15.0  # mm of blank paper above the signature lines
# AcroForm signature fields on the signature lines, by signature block (applicant first).
SIGNATURE_FIELDS = ("ApplicantSignature", "SuperiorSignature")
# Document information keys binding an issued form to its request (see signatures.py).
INFO_REFERENCE, INFO_FORM_ID, INFO_SEAL = "/DGAReference", "/DGAFormId", "/DGAFormSeal"
THAI_MONTHS = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)
ROLES = {"admin": "ผู้ดูแล", "editor": "บรรณาธิการ", "member": "สมาชิก"}
KINDS = {
    "cancellation": (
        "แบบคำขอยกเลิกบัญชีผู้ใช้งาน",
        "Account Cancellation Request Form",
        "ขอยกเลิกบัญชีผู้ใช้งาน (ถาวร / permanent)",
        "ข้าพเจ้าขอยกเลิกบัญชีผู้ใช้งานข้างต้นอย่างถาวร และรับทราบว่า"
        " เมื่อยกเลิกแล้ว จะไม่สามารถเข้าสู่ระบบด้วยบัญชีนี้ได้อีก"
        " และสิทธิ์ในหน่วยงานทั้งหมดของบัญชีนี้จะสิ้นสุดลง",
    ),
    "suspension": (
        "แบบคำขอระงับบัญชีผู้ใช้งานชั่วคราว",
        "Temporary Account Suspension Request Form",
        "ขอระงับบัญชีผู้ใช้งานชั่วคราว (temporary)",
        "ข้าพเจ้าขอระงับบัญชีผู้ใช้งานข้างต้นเป็นการชั่วคราว และรับทราบว่า"
        " ในระหว่างที่บัญชีถูกระงับ จะไม่สามารถเข้าสู่ระบบด้วยบัญชีนี้ได้"
        " จนกว่าบัญชีจะได้รับการเปิดใช้งานอีกครั้ง",
    ),
}


def thai_date(d: datetime.date) -> str:
    """Format ``d`` as a Thai Buddhist-era date, e.g. ``"27 พฤศจิกายน 2569"``."""
    return f"{d.day} {THAI_MONTHS[d.month - 1]} {d.year + 543}"


# -- untrusted text ------------------------------------------------------------


@functools.cache
def _font_path(weight: int) -> str:
    return str(fontpkg.path(FONT, weight=weight))


@functools.cache
def _covered() -> frozenset[int]:
    """Code points that both the regular and the bold Sarabun can draw."""
    maps = [TTFont(_font_path(w), lazy=True).getBestCmap() for w in (400, 700)]
    return frozenset(maps[0]).intersection(maps[1])


def _clean(value: Any, limit: int = 200, multiline: bool = False) -> str:
    """Make ``value`` safe to draw: printable in Sarabun, bounded, tidy spaces.

    Characters the font lacks become ``"?"`` (invisible ones such as joiners and
    variation selectors are dropped), runs of more than two combining marks are
    cut (no "zalgo" stacks over the lines above), and the text is shortened to
    ``limit`` characters with an ellipsis. Line breaks are kept only if
    ``multiline``; other whitespace runs become one space.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    covered, out, marks = _covered(), [], 0
    for ch in text:
        if ch == "\n" and multiline:
            out.append(ch)
            marks = 0
            continue
        if ch.isspace():
            ch = " "
        category = unicodedata.category(ch)
        marks = marks + 1 if category in ("Mn", "Me") else 0
        if marks > 2:
            continue
        if ord(ch) in covered:
            out.append(ch)
        elif category not in ("Mn", "Me", "Cf", "Cc", "Sk"):
            out.append("?")
    text = "".join(out)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = "\n".join(line for line in lines if line)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- drawing -------------------------------------------------------------------


class _ThaiToUnicode(OutputProducer):
    """Fix the text that PDF readers extract for SARA AM (U+0E33, as in "คำ").

    HarfBuzz splits SARA AM into NIKHAHIT + SARA AA glyphs; fpdf2 maps the
    character to the NIKHAHIT glyph and nothing to the SARA AA glyph, so
    extractors such as pdftotext read "คำ ขอ" with a spurious space. Map the
    character to the SARA AA glyph instead, which is where it ends on the line.
    """

    def bufferize(self) -> bytearray:
        for font in self.fpdf.fonts.values():
            subset = getattr(font, "subset", None)
            for glyph, _ in subset.items() if subset else ():
                codes = getattr(glyph, "unicode", None)
                if not isinstance(codes, tuple):
                    continue
                if glyph.glyph_name.startswith("uni0E4D") and 0x0E33 in codes:
                    glyph.unicode = tuple(c for c in codes if c != 0x0E33)
                elif glyph.glyph_name == "uni0E32" and not codes:
                    glyph.unicode = (0x0E33,)
        return super().bufferize()


class _Form(FPDF):
    """An A4 form page set in Sarabun with a reference-number footer."""

    def __init__(self, reference: str, title: str, issued: datetime.date) -> None:
        super().__init__(format="A4")
        self.reference = reference
        # (field name, page index, x1, y1, x2, y2 in mm from the top left) per signature line
        self.signature_boxes: list[tuple[str, int, float, float, float, float]] = []
        self.add_font(FONT, "", _font_path(400))
        self.add_font(FONT, "B", _font_path(700))
        # Thai vowels and tone marks are placed by Sarabun's GSUB (stacked and
        # ascender-avoiding variants). Its GPOS mark offsets are switched off:
        # fpdf2 draws them as sub-point cursor moves that make pdftotext split
        # words ("ผูบ ้ งั") while changing the print by a fraction of a point.
        self.set_text_shaping(True, features={"mark": False, "mkmk": False})
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=18)
        self.set_title(title)
        self.set_lang("th")
        self.set_creator("ckanext-dgaaccounts")
        bangkok = datetime.timezone(datetime.timedelta(hours=7))
        self.set_creation_date(
            datetime.datetime(issued.year, issued.month, issued.day, tzinfo=bangkok)
        )
        self.add_page()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.set_text_color(110)
        text = f"เลขที่อ้างอิง {self.reference or '-'}    หน้า {self.page_no()}"
        self.cell(0, 5, text, align="R")
        self.set_text_color(0)

    def text_block(self, text: str, size: float = 12, style: str = "",
                   align: str = "L", h: float = 6.5, w: float = 0) -> None:
        """A wrapped paragraph at the current position, ending on a new line."""
        self.set_font(FONT, style, size)
        self.multi_cell(w, h, text, align=align, new_x="LMARGIN", new_y="NEXT")

    def height_of(self, w: float, h: float, text: str, align: str = "L") -> float:
        """Height that ``multi_cell(w, h, text)`` would take in the current font."""
        return cast(float, self.multi_cell(w, h, text, align=align, dry_run=True,
                                           output="HEIGHT"))

    def ensure_space(self, height: float) -> None:
        """Start a new page unless ``height`` mm still fit on this one."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def header_block(self, title: str, subtitle: str, issued: datetime.date) -> None:
        self.set_font(FONT, "", 11)
        for label, value in (("เลขที่อ้างอิง (Reference No.)", self.reference),
                             ("วันที่ (Date)", thai_date(issued))):
            self.cell(0, 6, f"{label}: {value or PLACEHOLDER}", align="R",
                      new_x="LMARGIN", new_y="NEXT")
        self.ln(4)
        self.text_block(title, size=17, style="B", align="C", h=9)
        self.set_text_color(90)
        self.text_block(subtitle, size=11, align="C")
        self.set_text_color(0)
        self.ln(5)

    def section(self, text: str) -> None:
        self.ensure_space(20)
        self.ln(2)
        self.text_block(text, size=12.5, style="B", h=8)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def field(self, label: str, value: str, label_w: float = 66) -> None:
        """``label: value`` in two columns; the value wraps in its own column."""
        label, value = f"{label}:", value or PLACEHOLDER
        value_w = self.epw - label_w
        self.set_font(FONT, "B", 12)
        height = self.height_of(value_w, 7, value)
        # keep a value with its label unless it is longer than a whole page
        fits = height <= self.page_break_trigger - self.t_margin
        self.ensure_space(height if fits else 21)
        top = self.get_y()
        self.set_font(FONT, "", 12)
        self.set_text_color(70)
        self.multi_cell(label_w, 7, label, align="L", new_x="LMARGIN", new_y="NEXT")
        label_bottom = self.get_y()
        self.set_text_color(0)
        self.set_font(FONT, "B", 12)
        self.set_xy(self.l_margin + label_w, top)
        self.multi_cell(value_w, 7, value, align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_y(max(self.get_y(), label_bottom) + 0.5)

    def signatures(self, blocks: Sequence[tuple[str, str, str | None]]) -> None:
        """Side-by-side signature blocks of (role, name, position or None).

        Each block is a dotted line to sign on, the name in parentheses under
        it, the role, the position (unless None) and a date to fill in by hand.
        A lone block goes on the right, where a signature is expected.
        """
        width = self.epw / 2
        self.set_font(FONT, "", 12)
        columns = []
        for role, name, position in blocks:
            rows = [f"( {name or PLACEHOLDER} )", role]
            if position is not None:
                rows.append(f"ตำแหน่ง {position or PLACEHOLDER}")
            rows.append("วันที่ ......../................/..........")
            columns.append(rows)
        height = max(
            sum(self.height_of(width - 4, 6.5, row, align="C") for row in rows)
            for rows in columns
        )
        self.ensure_space(SIGNATURE_GAP + 8 + height)
        top = self.get_y() + SIGNATURE_GAP
        for i, rows in enumerate(columns, start=2 - len(columns)):
            x = self.l_margin + i * width
            self.signature_boxes.append((SIGNATURE_FIELDS[len(self.signature_boxes)],
                                         self.page_no() - 1, x + 13, top - SIGNATURE_GAP + 3,
                                         x + width - 8, top + 5.5))
            self.set_xy(x, top)
            self.cell(12, 7, "ลงชื่อ")
            self.set_dash_pattern(dash=0.4, gap=0.9)
            self.line(x + 13, top + 5.5, x + width - 8, top + 5.5)
            self.set_dash_pattern()
            self.set_xy(x, top + 8)
            for row in rows:
                self.multi_cell(width - 4, 6.5, row, align="C",
                                new_x="LEFT", new_y="NEXT")
        self.set_xy(self.l_margin, top + 8 + height + 4)

    def to_bytes(self, form_id: str | None = None,
                 seal: Callable[[str], str] | None = None) -> bytes:
        """The PDF, with its empty signature fields and, given a ``form_id``, the document
        identifier (reference, form id and ``seal(content_hash(...))``) in its metadata."""
        raw = bytes(self.output(output_producer_class=_ThaiToUnicode))
        return _signable(raw, self, form_id, seal)


def content_hash(pages: Iterable[Iterable[bytes]]) -> str:
    """sha256 over the decoded content streams of every page, in order.

    The same figure is computed by the portal when it issues a form (pikepdf) and when it
    checks an upload (pyHanko, on the signed revision): signing adds widgets and revisions but
    never touches the pages' content, and recompressing a stream does not change its hash.
    """
    digest = hashlib.sha256()
    for number, streams in enumerate(pages):
        digest.update(f"page {number}\n".encode())
        for data in streams:
            digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _page_streams(page: pikepdf.Page) -> list[bytes]:
    contents = page.obj.get("/Contents")
    if contents is None:
        return []
    items = contents if isinstance(contents, pikepdf.Array) else [contents]
    return [item.read_bytes() for item in items]


def _signable(raw: bytes, form: _Form, form_id: str | None,
              seal: Callable[[str], str] | None) -> bytes:
    """Add visible, empty AcroForm signature fields over the signature lines (any PAdES
    tool can sign them, one after the other) and the document identifier."""
    with pikepdf.open(io.BytesIO(raw)) as doc:
        fields = pikepdf.Array()
        for name, index, x1, y1, x2, y2 in form.signature_boxes:
            page = doc.pages[index]
            height = form.h * form.k
            widget = doc.make_indirect(pikepdf.Dictionary(
                Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget, FT=pikepdf.Name.Sig,
                T=pikepdf.String(name), F=4, P=page.obj,
                Rect=[round(x1 * form.k, 2), round(height - y2 * form.k, 2),
                      round(x2 * form.k, 2), round(height - y1 * form.k, 2)],
            ))
            if "/Annots" not in page.obj:
                page.obj.Annots = pikepdf.Array()
            page.obj.Annots.append(widget)
            fields.append(widget)
        if len(fields):
            doc.Root.AcroForm = doc.make_indirect(pikepdf.Dictionary(Fields=fields))
        if form_id:
            doc.docinfo[INFO_REFERENCE] = pikepdf.String(form.reference)
            doc.docinfo[INFO_FORM_ID] = pikepdf.String(form_id)
            if seal is not None:
                digest = content_hash(_page_streams(page) for page in doc.pages)
                doc.docinfo[INFO_SEAL] = pikepdf.String(seal(digest))
        out = io.BytesIO()
        doc.save(out, deterministic_id=True)
    return out.getvalue()


def _issued(data: Mapping[str, Any]) -> datetime.date:
    issued = data.get("issued")
    return issued if isinstance(issued, datetime.date) else timefmt.form_date()


def _fields(pdf: _Form, rows: Iterable[tuple[str, Any]]) -> None:
    for label, value in rows:
        pdf.field(label, _clean(value))


# -- public forms --------------------------------------------------------------


def application_form_pdf(data: Mapping[str, Any]) -> bytes:
    """Render the agency-officer account registration application form.

    ``data`` holds ``reference``, ``fullname``, ``username``, ``email``, ``phone``,
    ``position``, ``agency``, ``superior_name``, ``superior_position`` (strings,
    any of them may be empty or None) and ``issued`` (a date); optionally ``form_id`` and
    ``form_seal`` (see ``_Form.to_bytes``). Returns PDF bytes with empty signature fields.
    """
    title = "แบบคำขอลงทะเบียนบัญชีผู้ใช้งานสำหรับเจ้าหน้าที่หน่วยงาน"
    issued = _issued(data)
    pdf = _Form(_clean(data.get("reference"), 60), title, issued)
    pdf.set_subject("Agency Officer Account Registration Application Form")
    pdf.header_block(title, "Agency Officer Account Registration Application Form", issued)

    pdf.section("ข้อมูลผู้ยื่นคำขอ (Applicant)")
    _fields(pdf, [
        ("ชื่อ-นามสกุล (Full name)", data.get("fullname")),
        ("ชื่อบัญชีผู้ใช้ (Username)", data.get("username")),
        ("อีเมล (Email)", data.get("email")),
        ("โทรศัพท์ (Phone)", data.get("phone")),
        ("ตำแหน่ง (Position)", data.get("position")),
        ("หน่วยงาน (Agency)", data.get("agency")),
    ])
    pdf.section("ผู้บังคับบัญชาผู้อนุมัติ (Approving superior)")
    _fields(pdf, [
        ("ชื่อ-นามสกุล (Full name)", data.get("superior_name")),
        ("ตำแหน่ง (Position)", data.get("superior_position")),
    ])

    pdf.ln(4)
    pdf.ensure_space(30)
    pdf.text_block(
        "ข้าพเจ้าขอรับรองว่าข้อมูลข้างต้นเป็นความจริงทุกประการ"
        " และขอลงทะเบียนบัญชีผู้ใช้งานเพื่อปฏิบัติงานในนามของหน่วยงานข้างต้น"
        " โดยจะรักษารหัสผ่านไว้เป็นความลับ และจะปฏิบัติตามเงื่อนไขการใช้งานของระบบ"
        " ทั้งนี้ ผู้บังคับบัญชาได้รับทราบและอนุมัติให้ข้าพเจ้าลงทะเบียนแล้ว"
    )
    pdf.signatures([
        ("ผู้ยื่นคำขอ (Applicant)", _clean(data.get("fullname")), None),
        ("ผู้บังคับบัญชา (Superior)", _clean(data.get("superior_name")),
         _clean(data.get("superior_position"))),
    ])
    return pdf.to_bytes(data.get("form_id"), data.get("form_seal"))


def cancellation_form_pdf(data: Mapping[str, Any]) -> bytes:
    """Render an account cancellation (``kind="cancellation"``) or temporary
    suspension (``kind="suspension"``) request form.

    ``data`` holds ``reference``, ``kind``, ``fullname``, ``username``, ``email``,
    ``reason``, ``memberships`` (``(organization title, role)`` pairs, may be
    empty), ``issued`` (a date) and, when ``with_superior`` is truthy,
    ``superior_name`` and ``superior_position`` for a second signature block; optionally
    ``form_id`` and ``form_seal`` (see ``_Form.to_bytes``).
    Returns PDF bytes; raises ValueError for an unknown ``kind``.
    """
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown request kind: {kind!r}")
    title, subtitle, request, declaration = KINDS[kind]
    issued = _issued(data)
    pdf = _Form(_clean(data.get("reference"), 60), title, issued)
    pdf.set_subject(subtitle)
    pdf.header_block(title, subtitle, issued)

    pdf.section("ข้อมูลบัญชีผู้ใช้งาน (Account)")
    _fields(pdf, [
        ("ประเภทคำขอ (Request)", request),
        ("ชื่อ-นามสกุล (Full name)", data.get("fullname")),
        ("ชื่อบัญชีผู้ใช้ (Username)", data.get("username")),
        ("อีเมล (Email)", data.get("email")),
    ])
    pdf.field("เหตุผล (Reason)", _clean(data.get("reason"), 1000, multiline=True))

    pdf.section("สมาชิกภาพในหน่วยงาน (Organization memberships)")
    memberships = list(data.get("memberships") or [])
    if not memberships:
        pdf.text_block("ไม่มี (none)")
    for number, (org, role) in enumerate(memberships, 1):
        role = _clean(role, 40)
        role = f"{ROLES[role]} ({role})" if role in ROLES else role
        text = f"{number}. {_clean(org) or PLACEHOLDER}  —  {role or '-'}"
        pdf.ensure_space(7)
        pdf.text_block(text)

    pdf.ln(4)
    pdf.ensure_space(30)
    pdf.text_block(declaration)
    blocks: list[tuple[str, str, str | None]] = [
        ("ผู้ยื่นคำขอ (Applicant)", _clean(data.get("fullname")), None)
    ]
    if data.get("with_superior"):
        blocks.append(("ผู้บังคับบัญชา (Superior)", _clean(data.get("superior_name")),
                       _clean(data.get("superior_position"))))
    pdf.signatures(blocks)
    return pdf.to_bytes(data.get("form_id"), data.get("form_seal"))
