"""Active content in uploaded forms is found by parsing (qpdf via pikepdf), not by scanning bytes.

Every malicious sample is built with pikepdf itself, most with their dictionaries compressed in
object streams, where no byte scanner can see them. Refusals leave nothing on disk (no
``.part`` either); accepted files are stored byte for byte (a signed PDF must stay valid).
"""
from __future__ import annotations

import datetime
import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pikepdf
import pytest
from PIL import Image

from ckan.plugins import toolkit as tk
from ckan.tests import helpers

from ckanext.dgaaccounts import pdf as forms
from ckanext.dgaaccounts.storage import DocumentError, LocalDocumentStore
from ckanext.dgaaccounts.tests.conftest import registration, row_counts, stored_files
from ckanext.dgaaccounts.tests.pki import off_the_loop

ACTIVE = "The file contains scripts or other active content."
UNREADABLE = "The PDF file is damaged or cannot be read."
NO_PAGE = "The PDF file has no page."
TOO_MANY_PIXELS = "The image has too many pixels."
BAD_IMAGE = "The image cannot be read"

N = pikepdf.Name


@pytest.fixture
def store(tmp_path) -> LocalDocumentStore:
    return LocalDocumentStore(str(tmp_path / "private"))


def files_under(store: LocalDocumentStore) -> list[str]:
    return stored_files(store.root)


def refused(store: LocalDocumentStore, data: bytes, name: str = "form.pdf", **kw: Any) -> str:
    with pytest.raises(DocumentError) as info:
        store.save(io.BytesIO(data), name, max_size=20 * 1024 * 1024, **kw)
    assert files_under(store) == [], "a refused upload left a file (or a .part) behind"
    return str(info.value)


def accepted(store: LocalDocumentStore, data: bytes, name: str = "form.pdf", **kw: Any) -> None:
    doc = store.save(io.BytesIO(data), name, max_size=20 * 1024 * 1024, **kw)
    with store.open(doc.key) as fh:
        assert fh.read() == data  # byte-identical: nothing stripped or rewritten
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    store.delete(doc.key)


# -- building samples ------------------------------------------------------------------------

def build(change: Callable[[pikepdf.Pdf], None] | None = None, *, pages: int = 1,
          object_streams: bool = True, **save: Any) -> bytes:
    """A PDF made by pikepdf; by default its dictionaries are compressed in object streams."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    if change:
        change(pdf)
    out = io.BytesIO()
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(out, object_stream_mode=mode, compress_streams=True, **save)
    return out.getvalue()


def js_action(pdf: pikepdf.Pdf) -> pikepdf.Object:
    return pdf.make_indirect(pikepdf.Dictionary(S=N.JavaScript, JS=pikepdf.String("app.alert(1)")))


def annotation(pdf: pikepdf.Pdf, **entries: Any) -> pikepdf.Object:
    annot = pdf.make_indirect(pikepdf.Dictionary(
        Type=N.Annot, Rect=[10, 10, 100, 100], P=pdf.pages[0].obj, **entries))
    pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([annot]))
    return annot


def open_action_js(pdf):
    pdf.Root.OpenAction = js_action(pdf)


def open_action_uri(pdf):
    pdf.Root.OpenAction = pikepdf.Dictionary(S=N.URI, URI=pikepdf.String("https://x.example/"))


def open_action_chain(pdf):
    # A harmless first action whose /Next runs a Launch.
    launch = pikepdf.Dictionary(S=N.Launch, F=pikepdf.String("calc.exe"))
    pdf.Root.OpenAction = pikepdf.Dictionary(
        S=N.GoTo, D=[pdf.pages[0].obj, N.Fit], Next=pdf.make_indirect(launch))


def catalog_aa(pdf):
    pdf.Root.AA = pikepdf.Dictionary(WC=pikepdf.Dictionary(S=N.Named, N=N.Print))


def page_aa_launch(pdf):
    pdf.pages[0].obj.AA = pikepdf.Dictionary(
        O=pikepdf.Dictionary(S=N.Launch, F=pikepdf.String("cmd.exe")))


def link_js(pdf):
    # A link annotation whose action (an indirect object, so in an object stream) is JavaScript.
    annotation(pdf, Subtype=N.Link, A=js_action(pdf))


def link_js_uri(pdf):
    annotation(pdf, Subtype=N.Link,
               A=pikepdf.Dictionary(S=N.URI, URI=pikepdf.String("javascript:app.alert(1)")))


def javascript_name_tree(pdf):
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(
        Names=[pikepdf.String("x"), js_action(pdf)]))


def embedded_file(pdf):
    pdf.attachments["invoice.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00", mime_type="x")


def file_attachment_annotation(pdf):
    spec = pikepdf.Dictionary(Type=N.Filespec, F=pikepdf.String("a.txt"))
    annotation(pdf, Subtype=N.FileAttachment, FS=spec)


def xfa_form(pdf):
    xfa = pdf.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=[], XFA=xfa)


def rich_media(pdf):
    annotation(pdf, Subtype=N.RichMedia, RichMediaContent=pikepdf.Dictionary())


def field_with(action: str, **entries: Any) -> Callable[[pikepdf.Pdf], None]:
    def change(pdf):
        act = pikepdf.Dictionary(S=N(action), **entries)
        widget = annotation(pdf, Subtype=N.Widget, FT=N.Btn, T=pikepdf.String("b"), A=act)
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=[widget])
    return change


def field_keystroke_js(pdf):
    widget = annotation(pdf, Subtype=N.Widget, FT=N.Tx, T=pikepdf.String("amount"),
                        AA=pikepdf.Dictionary(K=js_action(pdf)))
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=[widget])


def escaped_name_js(pdf):
    # qpdf decodes #xx escapes: /J#61vaScript is /JavaScript whatever the spelling in the file.
    pdf.Root.OpenAction = pdf.make_indirect(pikepdf.Dictionary(
        {"/S": N("/JavaScript"), "/JS": pikepdf.String("x")}))


MALICIOUS = {
    "JavaScript in the catalog's OpenAction": open_action_js,
    "URI in the OpenAction (opens a site by itself)": open_action_uri,
    "Launch chained after a GoTo OpenAction": open_action_chain,
    "catalog additional action": catalog_aa,
    "Launch in a page's /AA": page_aa_launch,
    "JavaScript link action in an object stream": link_js,
    "javascript: URI on a link": link_js_uri,
    "JavaScript name tree": javascript_name_tree,
    "EmbeddedFiles name tree": embedded_file,
    "file attachment annotation": file_attachment_annotation,
    "XFA in the AcroForm": xfa_form,
    "RichMedia annotation": rich_media,
    "SubmitForm on a button": field_with("/SubmitForm", F=pikepdf.String("https://x.example/")),
    "ImportData on a button": field_with("/ImportData", F=pikepdf.String("data.fdf")),
    "GoToE on a button": field_with("/GoToE", T=pikepdf.Dictionary(R=N.C)),
    "GoToR on a button": field_with("/GoToR", F=pikepdf.String("//host/share/x.pdf"),
                                    D=[0, N.Fit]),
    "keystroke JavaScript on a text field": field_keystroke_js,
    "escaped name spelling": escaped_name_js,
}


@pytest.mark.parametrize("change", list(MALICIOUS.values()), ids=list(MALICIOUS))
def test_active_content_is_refused(store, change):
    assert refused(store, build(change)) == ACTIVE


def test_javascript_in_an_object_stream_is_invisible_to_bytes_but_refused(store):
    data = build(open_action_js)
    # The byte scanner of old saw nothing: the names are compressed inside an object stream.
    assert b"/JS" not in data
    assert b"JavaScript" not in data
    assert b"/ObjStm" in data
    assert refused(store, data) == ACTIVE


def test_a_broken_cross_reference_table_does_not_hide_javascript(store):
    # Without a usable xref, qpdf rebuilds the document from every object in the file (as
    # viewers do): the script found there is refused, the file is not waved through.
    data = build(link_js)
    broken = data.replace(b"startxref", b"startxrex")
    assert refused(store, broken) == ACTIVE


def test_a_repairable_clean_file_is_accepted(store):
    # Some scanners write a wrong xref; viewers repair it, so do we, and a clean one passes.
    data = build(object_streams=False)
    accepted(store, data.replace(b"startxref", b"startxrex"))


@pytest.mark.parametrize(("data", "message"), [
    (b"%PDF-1.7\n" + b"\x00garbage" * 200, UNREADABLE),
    (b"%PDF-", UNREADABLE),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>",
     UNREADABLE),
], ids=["garbage", "header only", "page tree missing"])
def test_unreadable_or_empty_files_are_refused(store, data, message):
    assert message in refused(store, data)


def test_a_pdf_without_a_page_is_refused(store):
    assert refused(store, build(pages=0)) == NO_PAGE


def test_encrypted_pdfs_are_refused(store):
    user = build(encryption=pikepdf.Encryption(user="secret", owner="owner"))
    assert "password" in refused(store, user)
    owner_only = build(encryption=pikepdf.Encryption(user="", owner="owner"))
    assert "encrypted" in refused(store, owner_only)


@pytest.mark.parametrize("change", [
    None,
    lambda pdf: setattr(pdf.Root, "OpenAction", pikepdf.Array([pdf.pages[0].obj, N.Fit])),
    lambda pdf: setattr(pdf.Root, "OpenAction",
                        pikepdf.Dictionary(S=N.GoTo, D=[pdf.pages[0].obj, N.Fit])),
    lambda pdf: annotation(pdf, Subtype=N.Link, A=pikepdf.Dictionary(
        S=N.URI, URI=pikepdf.String("https://data.go.th/"))),
    lambda pdf: setattr(pdf.Root, "AcroForm", pikepdf.Dictionary(Fields=[annotation(
        pdf, Subtype=N.Widget, FT=N.Tx, T=pikepdf.String("name"), V=pikepdf.String("Somchai"),
        AA=pikepdf.Dictionary())])),
], ids=["plain", "OpenAction destination", "OpenAction GoTo", "http link", "text field"])
def test_harmless_features_are_accepted(store, change):
    accepted(store, build(change))


# -- digitally signed forms ------------------------------------------------------------------

@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> Any:
    """A pyHanko signer with a throwaway self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from pyhanko.sign import signers

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test officer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("signer")
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return signers.SimpleSigner.load(str(folder / "key.pem"), str(folder / "cert.pem"))


def sign(data: bytes, signer: Any) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    out = off_the_loop(signers.sign_pdf, writer,
                       signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer)
    return out.getvalue()


def test_a_pdf_signed_with_pyhanko_is_accepted_byte_for_byte(store, signer):
    signed = sign(build(object_streams=False), signer)
    with pikepdf.open(io.BytesIO(signed)) as pdf:  # it really carries a signature field
        assert pdf.Root.AcroForm.SigFlags
        assert str(pdf.Root.AcroForm.Fields[0].FT) == "/Sig"
    accepted(store, signed)


def test_the_portals_own_form_signed_with_pyhanko_is_accepted(store, signer):
    form = forms.application_form_pdf({"reference": "AG-1", "fullname": "สมชาย ใจดี"})
    accepted(store, sign(form, signer))


def test_a_signature_does_not_excuse_active_content(store, signer):
    assert refused(store, sign(build(open_action_js, object_streams=False), signer)) == ACTIVE


# -- images ----------------------------------------------------------------------------------

def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels in a few dozen bytes (a bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def image(fmt: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 200).save(out, fmt)
    return out.getvalue()


def test_a_decompression_bomb_png_is_refused_before_decoding(store):
    assert TOO_MANY_PIXELS in refused(store, png_header_only(60000, 60000), "scan.png")


def test_the_pixel_limit_is_configurable_and_exact(store):
    assert TOO_MANY_PIXELS in refused(store, image("PNG", (101, 100)), "scan.png",
                                      max_pixels=10_000)
    accepted(store, image("PNG", (100, 100)), "scan.png", max_pixels=10_000)
    assert TOO_MANY_PIXELS in refused(store, image("JPEG", (101, 100)), "scan.jpg",
                                      max_pixels=10_000)
    accepted(store, image("JPEG", (100, 100)), "scan.jpg", max_pixels=10_000)


@pytest.mark.ckan_config("ckanext.dgaaccounts.upload_max_pixels", "5000")
@pytest.mark.usefixtures("with_plugins")
def test_the_pixel_limit_comes_from_the_config(store):
    assert TOO_MANY_PIXELS in refused(store, image("PNG", (100, 100)), "scan.png")


@pytest.mark.parametrize(("data", "name"), [
    (image("PNG", (64, 64))[:-40], "scan.png"),  # truncated inside the image data
    (image("JPEG", (64, 64))[:200], "scan.jpg"),  # truncated before the scan data ends
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "scan.png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "scan.jpg"),
], ids=["truncated png", "truncated jpeg", "png magic only", "jpeg magic only"])
def test_images_that_do_not_decode_are_refused(store, data, name):
    assert BAD_IMAGE in refused(store, data, name)


# -- through the action ----------------------------------------------------------------------

@pytest.mark.ckan_config("ckan.plugins", "dgaaccounts")
@pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context")
@pytest.mark.parametrize(("data", "name", "message"), [
    (build(open_action_js), "form.pdf", ACTIVE),
    (build(pages=0), "form.pdf", NO_PAGE),
    (png_header_only(60000, 60000), "scan.png", TOO_MANY_PIXELS),
], ids=["javascript", "no page", "bomb"])
def test_the_action_refuses_with_a_field_error_and_leaves_nothing(
        data, name, message, make_upload, storage_root):
    before = row_counts()
    with pytest.raises(tk.ValidationError) as info:
        helpers.call_action("dgaaccounts_agency_register", **registration(
            signed_form=make_upload(data, name)))
    assert list(info.value.error_dict) == ["signed_form"]
    assert message in info.value.error_dict["signed_form"][0]
    assert row_counts() == before
    assert stored_files(storage_root) == []
