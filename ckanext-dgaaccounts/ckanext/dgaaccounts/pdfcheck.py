"""Content policy for uploaded scans: PDFs are parsed, images are decoded.

A byte scanner cannot see inside compressed object streams (PDF 1.5+ keeps most
dictionaries there) and can be steered past a region by a crafted ``stream``
keyword, so the decision is made on the parsed document instead. PDFs are read
with pikepdf, the Python binding of qpdf: qpdf reads object streams and
cross-reference streams, decodes ``#xx`` escapes in names, and is the same
parser family that document-security tools build on. Every object the document
holds is walked, including those inside object streams (``Pdf.objects``) and
the dictionaries nested directly inside them.

Files are refused, never cleaned: the stored form must stay byte-identical to
the upload, because a digitally signed form is only valid byte for byte.
Signature fields (``/FT /Sig``, ``/SigFlags``, ``/Perms``, ``/DSS``) and plain
form fields are not active content and pass.

Refused in a PDF (see README "Reliability and security"):

* JavaScript anywhere: a ``/JS`` entry, a ``/JavaScript`` name tree or action.
* Actions that start programs, open or carry other files, or send data:
  ``/Launch``, ``/GoToE``, ``/GoToR``, ``/ImportData``, ``/SubmitForm``,
  ``/Rendition``, ``/Movie``, ``/Sound``, ``/RichMediaExecute``.
* Embedded files (``/EmbeddedFiles``, ``/EmbeddedFile`` streams, file
  specifications with ``/EF``), file-attachment annotations, XFA forms,
  RichMedia, Screen, Movie, Sound and 3D annotations.
* Any action that runs by itself: ``/OpenAction`` other than a destination or
  a ``/GoTo`` inside the document, and any entry of an ``/AA`` (additional
  actions) dictionary on the catalog, pages, annotations or fields.
* ``/URI`` actions are allowed only as links the reader clicks (not in
  ``/OpenAction`` or ``/AA``) and only to ``http``, ``https`` or ``mailto``.
* Encrypted PDFs (even with only an owner password: restrictions on printing
  or copying get in the way of review and archiving, and the content of an
  encrypted file cannot be checked by other tools), files qpdf cannot read,
  and PDFs without a page. A damaged file that qpdf can repair (a wrong
  cross-reference table, as some scanners write) is repaired in memory the way
  viewers repair it, and the repaired document is what is checked: when the
  table is missing qpdf rebuilds it from every ``obj`` in the file, so objects
  that a broken table hides are seen too.

Images must decode completely with Pillow and have at most
``ckanext.dgaaccounts.upload_max_pixels`` pixels, checked from the header
before any pixel is decoded (a 60000 x 60000 PNG is a few kB on the wire and
gigabytes in memory, in the server and in the reviewer's browser).
"""
from __future__ import annotations

import logging
import warnings
from typing import Any

from ckan.plugins import toolkit as tk

log = logging.getLogger(__name__)

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"

#: More indirect objects than any scanned or signed form has; a file with more
#: is refused rather than walked (the walk is linear, this bounds its time).
MAX_OBJECTS = 200_000

# Keys whose presence alone is active content, in any dictionary.
_ACTIVE_KEYS = frozenset({
    "/JS", "/JavaScript", "/EmbeddedFiles", "/EmbeddedFile", "/XFA",
    "/RichMediaContent", "/RichMediaSettings", "/RichMediaExecute",
})
# Action types (/S) refused wherever they appear.
_ACTIVE_ACTIONS = frozenset({
    "/JavaScript", "/Launch", "/GoToE", "/GoToR", "/ImportData", "/SubmitForm",
    "/Rendition", "/Movie", "/Sound", "/RichMediaExecute",
})
# Values of /Type or /Subtype refused wherever they appear.
_ACTIVE_TYPES = frozenset({
    "/EmbeddedFile", "/FileAttachment", "/RichMedia", "/RichMediaAnnot", "/Screen",
    "/Movie", "/Sound", "/3D",
})
# Actions allowed to run by themselves (/OpenAction): moving inside the document.
_AUTOMATIC_OK = frozenset({"/GoTo"})
_URI_SCHEMES = ("http://", "https://", "mailto:")


class ContentError(Exception):
    """A scan breaks the content policy; ``str(error)`` is a translated user message."""


def _active() -> ContentError:
    return ContentError(tk._("The file contains scripts or other active content."))


def _unreadable() -> ContentError:
    return ContentError(tk._(
        "The PDF file is damaged or cannot be read. Save or scan it again as a PDF and "
        "upload the new file."))


def check_file(path: str, mimetype: str, *, max_pixels: int) -> None:
    """Raise ``ContentError`` unless the completed upload at ``path`` is acceptable.

    ``mimetype`` is the type detected from the magic bytes. The file is only read.
    """
    if mimetype == PDF:
        check_pdf(path)
    elif mimetype in (JPEG, PNG):
        check_image(path, mimetype, max_pixels=max_pixels)
    else:  # pragma: no cover - storage only passes detected types
        raise ValueError(f"no content policy for {mimetype}")


# -- PDF -----------------------------------------------------------------------------------

def check_pdf(path: str) -> None:
    """Parse the PDF at ``path`` with qpdf and refuse active content; see the module doc."""
    import pikepdf

    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError as exc:
        raise ContentError(tk._(
            "The PDF file is protected by a password. Upload a copy without a password."
        )) from exc
    except Exception as exc:  # qpdf could not read it at all
        log.info("refused an upload qpdf cannot read: %s", type(exc).__name__)
        raise _unreadable() from exc
    with pdf:
        try:
            _check_document(pdf)
        except (pikepdf.PdfError, RuntimeError, ValueError, RecursionError) as exc:
            # A broken object met during the walk (qpdf parses objects lazily).
            log.info("refused an upload with a broken object: %s", type(exc).__name__)
            raise _unreadable() from exc


def _check_document(pdf: Any) -> None:
    if pdf.is_encrypted:
        raise ContentError(tk._(
            "The PDF file is encrypted. Upload a copy without a password or restrictions."))
    objects = pdf.objects
    if len(objects) > MAX_OBJECTS:
        raise _unreadable()
    if len(pdf.pages) == 0:
        raise ContentError(tk._("The PDF file has no page."))
    _check_object(pdf.trailer)
    for obj in objects:
        _check_object(obj)
    _check_open_action(pdf.Root.get("/OpenAction"))


def _check_object(root: Any) -> None:
    """Check ``root`` and every object nested directly in it (not through references)."""
    import pikepdf

    todo = [root]
    while todo:
        obj = todo.pop()
        if isinstance(obj, pikepdf.Stream):
            obj = obj.stream_dict
        if isinstance(obj, pikepdf.Dictionary):
            _check_dictionary(obj)
            children = obj.values()
        elif isinstance(obj, pikepdf.Array):
            children = list(obj)
        else:
            continue
        # Indirect objects are visited on their own from Pdf.objects; following them here
        # would walk shared objects many times (or loop).
        todo.extend(c for c in children if isinstance(c, pikepdf.Object) and not c.is_indirect)


def _name(value: Any) -> str | None:
    import pikepdf

    return str(value) if isinstance(value, pikepdf.Name) else None


def _check_dictionary(d: Any) -> None:
    keys = set(d.keys())
    if keys & _ACTIVE_KEYS:
        raise _active()
    if _name(d.get("/S")) in _ACTIVE_ACTIONS:
        raise _active()
    if _name(d.get("/Type")) in _ACTIVE_TYPES or _name(d.get("/Subtype")) in _ACTIVE_TYPES:
        raise _active()
    if "/EF" in keys:  # a file specification that carries the file itself
        raise _active()
    if "/AA" in keys and _has_entries(d.get("/AA")):
        # Additional actions run on events (open, close, focus, keystroke...): never wanted.
        raise _active()
    if _name(d.get("/S")) == "/URI":
        uri = str(d.get("/URI", "")).strip().lower()
        if not uri.startswith(_URI_SCHEMES):
            raise _active()


def _has_entries(value: Any) -> bool:
    import pikepdf

    return not (isinstance(value, pikepdf.Dictionary) and len(value.keys()) == 0)


def _check_open_action(action: Any) -> None:
    """The catalog's /OpenAction may only show a place in the document."""
    import pikepdf

    if action is None or isinstance(action, pikepdf.Array):
        return  # absent, or a destination such as [page /Fit]
    todo, seen = [action], 0
    while todo:
        action = todo.pop()
        seen += 1
        # An action chain (/Next) may loop through references: bound it.
        if seen > 100 or not isinstance(action, pikepdf.Dictionary):
            raise _active()
        if _name(action.get("/S")) not in _AUTOMATIC_OK:
            raise _active()
        follow = action.get("/Next")
        if isinstance(follow, pikepdf.Array):
            todo.extend(follow)
        elif follow is not None:
            todo.append(follow)


# -- images --------------------------------------------------------------------------------

_PIL_FORMATS = {JPEG: "JPEG", PNG: "PNG"}


def check_image(path: str, mimetype: str, *, max_pixels: int) -> None:
    """Refuse an image that is too large in pixels, or does not decode completely.

    The pixel count comes from the header, before any pixel is decoded. JPEGs are then
    decoded at 1/8 scale (every entropy-coded byte is still read, so a corrupt or truncated
    file still fails, with 1/64 of the memory); PNGs are decoded in full.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # The configured limit decides, not Pillow's global one.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=[_PIL_FORMATS[mimetype]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise _too_many_pixels(max_pixels)
                if mimetype == JPEG:
                    image.draft(image.mode, (max(width // 8, 1), max(height // 8, 1)))
                image.load()
    except ContentError:
        raise
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError...
        log.info("refused an image that does not decode: %s", type(exc).__name__)
        raise ContentError(tk._(
            "The image cannot be read: it is damaged or not a complete JPEG or PNG file."
        )) from exc


def _too_many_pixels(max_pixels: int) -> ContentError:
    return ContentError(tk._(
        "The image has too many pixels. Scan it again at a lower resolution (at most "
        "%(megapixels)s million pixels).") % {"megapixels": f"{max_pixels / 1_000_000:g}"})
