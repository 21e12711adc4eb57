"""Verification of the digital signatures of an uploaded form (PAdES), with pyHanko.

For each signature of a PDF: integrity (the signed bytes are intact and cover a whole
revision; later revisions may only add signatures and fill fields, as pyHanko's difference
analysis tells), trust (a chain up to the configured trust roots, valid at the signing time,
not revoked where revocation information is at hand), and whose it is (the signer's name
compared with the applicant's and the superior's names on the request). For the document:
that it is the form the portal issued for this request (``form_check``).

The signing time (``signing_moment``): the time the signature claims, bounded by its RFC 3161
signature timestamp when one from a trusted timestamp authority is present, else by the
request's creation and the upload. Revocation: with a trusted timestamp, a certificate
revoked after it still signed validly; without one, the signer's clock proves nothing, so a
revocation known at upload counts. The CRL files of ``signature_crls`` are consulted for
every certificate of the chain, whether or not it names a CRL or OCSP responder;
``signature_revocation`` (hard-fail or soft-fail) applies to the certificates that do.

Nothing here changes the file, approves a request or raises on a bad PDF: every problem
becomes a result with a reason code (``REASONS``) that the review page shows.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import functools
import hashlib
import hmac
import io
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, overload

from asn1crypto import cms, pem, x509
from asn1crypto import crl as asn1_crl
from ckan.plugins import toolkit as tk
from pyhanko.pdf_utils.generic import DictionaryObject, IndirectObject
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from cryptography import x509 as cx509
from pyhanko_certvalidator import ValidationContext

from . import pdf, tokens

log = logging.getLogger(__name__)

PREFIX = "ckanext.dgaaccounts."
POLICIES = ("scan", "digital_preferred", "digital_required")
APPLICANT, SUPERIOR = "applicant", "superior"

# Why a signature or a form is not good, as codes (stored and audited); ``reason_label`` and
# ``form_label`` give the sentences that sysadmins read.
REASONS = ("ok", "modified", "not_intact", "partial", "untrusted", "expired", "revoked",
           "revocation_unknown", "too_many_certificates", "unreadable", "name_mismatch",
           "empty_field")
# Where the time that the certificates were judged at comes from.
TIME_SOURCES = ("timestamp", "signer", "upload")
TIMESTAMP_STATES = ("trusted", "untrusted", "invalid")
# A signer's clock may run a little ahead of the timestamp authority's, and the timestamp is
# asked for just after signing: a claimed time this much before the timestamp is believed.
TIMESTAMP_LAG = datetime.timedelta(minutes=10)
FORM_REASONS = ("ok", "not_pdf", "unreadable", "no_signatures", "too_many_signatures",
                "no_form_id", "other_request", "content_changed")
_TITLES = ("นางสาว", "นาง", "นาย", "ดร.", "ดร", "mrs.", "mrs", "mr.", "mr", "ms.", "ms",
           "miss", "dr.", "dr")
_NAME_JUNK = re.compile(r"[\s.,]+")


@dataclasses.dataclass
class SignatureResult:
    """One signature (or one empty signature field) of a document."""

    field: str
    signer_subject: str = ""
    signer_name: str = ""
    issuer: str = ""
    serial: str = ""
    signing_time: datetime.datetime | None = None  # as claimed by the signer
    timestamp_time: datetime.datetime | None = None  # of an RFC 3161 signature timestamp
    timestamp_authority: str = ""
    timestamp_status: str | None = None  # a TIMESTAMP_STATES code, None without a timestamp
    validity_time: datetime.datetime | None = None  # what the certificates were judged at
    time_source: str = ""  # a TIME_SOURCES code
    intact: bool = False
    trusted: bool = False
    modification_level: str = ""
    matched: str | None = None
    reason: str = "unreadable"

    @property
    def valid(self) -> bool:
        return self.reason == "ok"


@dataclasses.dataclass
class DocumentResult:
    """All the signatures of one document and whether it is this request's issued form."""

    signatures: list[SignatureResult]
    form: str  # a FORM_REASONS code
    verified: bool = False

    @property
    def signed(self) -> bool:
        return any(s.signer_subject for s in self.signatures)


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a request expects of its form: who signs and what was issued."""

    request_id: str
    applicant_names: tuple[str, ...]
    superior_names: tuple[str, ...] = ()
    superior_required: bool = False
    # The form did not exist before the request (naive UTC): no signature of it is older.
    issued_after: datetime.datetime | None = None


def reason_label(code: str) -> str:
    """The sentence for a signature's reason code."""
    labels = {
        "ok": tk._("Valid signature"),
        "modified": tk._("The document was changed after this signature (more than adding"
                         " signatures or filling fields)"),
        "not_intact": tk._("The signed content does not match the signature (the file was"
                           " altered or the signature is damaged)"),
        "partial": tk._("The signature does not cover a whole revision of the file"),
        "untrusted": tk._("The certificate does not chain up to a trusted certification"
                          " authority"),
        "expired": tk._("The certificate has expired or is not yet valid"),
        "revoked": tk._("The certificate has been revoked"),
        "revocation_unknown": tk._("Whether the certificate has been revoked could not be"
                                   " checked (revocation information unreachable)"),
        "too_many_certificates": tk._("The signature carries too many certificates"),
        "unreadable": tk._("The signature could not be read"),
        "name_mismatch": tk._("The signer is neither the applicant nor the superior named on"
                              " the request"),
        "empty_field": tk._("This signature field is empty"),
    }
    return labels.get(code, code)


def form_label(code: str) -> str:
    """The sentence for a document's form-check code."""
    labels = {
        "ok": tk._("This is the form issued for this request, unchanged"),
        "not_pdf": tk._("Not a PDF: no digital signature to verify"),
        "unreadable": tk._("The PDF could not be read"),
        "no_signatures": tk._("The PDF carries no digital signature"),
        "too_many_signatures": tk._("The PDF carries more signatures than allowed"),
        "no_form_id": tk._("The PDF is not a form issued by the portal"),
        "other_request": tk._("The form was issued for another request"),
        "content_changed": tk._("The signed pages differ from the form issued for this"
                                " request"),
    }
    return labels.get(code, code)


# -- configuration --------------------------------------------------------------------------

def policy() -> str:
    value = tk.config.get(PREFIX + "signature_policy") or "scan"
    return value if value in POLICIES else "scan"


def max_signatures() -> int:
    return int(tk.config.get(PREFIX + "signature_max_count") or 10)


def max_certificates() -> int:
    return int(tk.config.get(PREFIX + "signature_max_certificates") or 20)


def _paths(key: str) -> tuple[str, ...]:
    value = tk.config.get(PREFIX + key) or []
    if isinstance(value, str):
        value = value.split()
    return tuple(value)


@functools.lru_cache(maxsize=8)
def _load_pem_or_der(path: str) -> tuple[bytes, ...]:
    with open(path, "rb") as f:
        data = f.read()
    if pem.detect(data):
        return tuple(der for _type, _headers, der in pem.unarmor(data, multiple=True))
    return (data,)


def _load_all(key: str, loader: Any) -> list[Any]:
    """Every object in the files of option ``key``. A file that is missing or not readable as
    such is logged and skipped: nothing is trusted from it, and no upload fails on it."""
    found = []
    for path in _paths(key):
        try:
            items = [loader(der) for der in _load_pem_or_der(path)]
            for item in items:
                item.native  # parse now: asn1crypto is lazy  # noqa: B018
        except (OSError, ValueError, TypeError) as exc:
            log.error("%s: cannot use %s (%s)", PREFIX + key, path, type(exc).__name__)
            continue
        found += items
    return found


def trust_roots() -> list[x509.Certificate]:
    """The trust anchors: every certificate in the PEM (or DER) files of
    ``signature_trust_roots``. None configured: nothing is trusted."""
    return _load_all("signature_trust_roots", x509.Certificate.load)


def _crls() -> list[asn1_crl.CertificateList]:
    return _load_all("signature_crls", asn1_crl.CertificateList.load)


def timestamp_roots() -> list[x509.Certificate]:
    """Roots of the timestamp authorities, trusted for timestamps only (with the trust roots,
    which are trusted for both)."""
    return _load_all("signature_timestamp_roots", x509.Certificate.load)


def _hard_fail() -> bool:
    return (tk.config.get(PREFIX + "signature_revocation") or "soft-fail") == "hard-fail"


@dataclasses.dataclass
class _Trust:
    """What the signatures of one document are judged against (files read once)."""

    roots: list[x509.Certificate]
    tsa_roots: list[x509.Certificate]
    crls: list[asn1_crl.CertificateList]
    hard: bool
    now: datetime.datetime  # the upload (aware UTC)

    @classmethod
    def load(cls) -> _Trust:
        return cls(trust_roots(), timestamp_roots(), _crls(), _hard_fail(),
                   datetime.datetime.now(datetime.timezone.utc))

    def context(self, moment: datetime.datetime | None = None, *,
                point_in_time: bool = True, timestamps: bool = False) -> ValidationContext:
        """A context judging certificates at ``moment`` (now when None). ``point_in_time``
        False: validity periods at ``moment``, but a revocation counts whatever its date."""
        context = ValidationContext(
            trust_roots=self.roots + (self.tsa_roots if timestamps else []), crls=self.crls,
            allow_fetching=self.hard, revocation_mode="hard-fail" if self.hard else "soft-fail",
            moment=moment,
            # a CRL published after the signing time still tells whether the certificate
            # was revoked before it
            retroactive_revinfo=True,
        )
        if moment is not None and not point_in_time:
            timing = context.timing_params
            context.timing_params = dataclasses.replace(timing, timing_info=dataclasses.replace(
                timing.timing_info, point_in_time_validation=False))
        return context


# -- the form binding -----------------------------------------------------------------------

def _secret() -> bytes:
    secret = tk.config.get("SECRET_KEY") or tk.config.get("beaker.session.secret") or ""
    return ("dgaaccounts-form\0" + str(secret)).encode()


def form_id(request_id: str) -> str:
    """The random-looking, stable form id of a request: a keyed hash (HMAC) of its id."""
    return hmac.new(_secret(), b"id\0" + request_id.encode(), hashlib.sha256).hexdigest()[:24]


def form_seal(request_id: str, content: str) -> str:
    """A keyed hash binding the issued pages' content hash to the request."""
    message = f"seal\0{request_id}\0{content}".encode()
    return hmac.new(_secret(), message, hashlib.sha256).hexdigest()


def issue_args(request_id: str) -> dict[str, Any]:
    """The ``form_id`` and ``form_seal`` arguments of the pdf module's forms."""
    return {"form_id": form_id(request_id),
            "form_seal": functools.partial(form_seal, request_id)}


# -- names ----------------------------------------------------------------------------------

def normalize_name(name: str) -> str:
    """A name reduced for comparison: NFC, case-folded, titles (นาย/นาง/นางสาว/ดร., Mr/Mrs/
    Ms/Miss/Dr) and punctuation dropped, one space between words."""
    text = unicodedata.normalize("NFKC", name or "").casefold().strip()
    changed = True
    while changed:
        changed = False
        for title in _TITLES:
            if text.startswith(title):
                rest = text[len(title):]
                # a Latin title must stand alone ("Mr Somchai", not "Mrinal")
                if title.isascii() and rest[:1].isalpha():
                    continue
                text, changed = rest.lstrip(" ."), True
                break
    return " ".join(w for w in _NAME_JUNK.split(text) if w)


def _cert_names(cert: x509.Certificate) -> list[str]:
    subject = cert.subject.native
    names = [subject.get("common_name"), subject.get("pseudonym")]
    if subject.get("given_name") or subject.get("surname"):
        names.append(f"{subject.get('given_name') or ''} {subject.get('surname') or ''}")
    return [str(n) for n in names if n and isinstance(n, str)]


def match_person(cert: x509.Certificate, expected: Expected) -> str | None:
    names = {normalize_name(n) for n in _cert_names(cert)} - {""}
    for person, candidates in ((APPLICANT, expected.applicant_names),
                               (SUPERIOR, expected.superior_names)):
        if names & {normalize_name(c) for c in candidates if c}:
            return person
    return None


# -- verification ---------------------------------------------------------------------------

def verify(data: bytes, expected: Expected) -> DocumentResult:
    """Verify every signature of ``data`` (a PDF) against what ``expected`` says."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _verify(data, expected)
    # pyHanko's synchronous API runs its own event loop: not inside a running one (an
    # asynchronous server worker), so there it runs in a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_verify, data, expected).result()


def _verify(data: bytes, expected: Expected) -> DocumentResult:
    if not data.startswith(b"%PDF-"):
        return DocumentResult([], "not_pdf")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = reader.embedded_signatures
        fields = _signature_fields(reader)
    except Exception as exc:  # noqa: BLE001 - a malformed PDF is a result, not a 500
        log.info("unreadable PDF: %s", type(exc).__name__)
        return DocumentResult([], "unreadable")
    if len(fields) > max_signatures() or len(embedded) > max_signatures():
        return DocumentResult([], "too_many_signatures")
    if not embedded:
        return DocumentResult([SignatureResult(f, reason="empty_field") for f in fields],
                              "no_signatures")
    trust = _Trust.load()
    results = [_check_signature(sig, expected, trust) for sig in embedded]
    _check_tail(data, reader, embedded, results)
    signed = {r.field for r in results}
    results += [SignatureResult(f, reason="empty_field") for f in fields if f not in signed]
    form = _form_check(reader, embedded[0], expected)
    return DocumentResult(results, form, _verified(results, form, expected))


def _verified(results: Sequence[SignatureResult], form: str, expected: Expected) -> bool:
    people = {r.matched for r in results if r.valid}
    needed = {APPLICANT} | ({SUPERIOR} if expected.superior_required else set())
    return form == "ok" and needed <= people and all(
        r.valid for r in results if r.signer_subject)


def _check_tail(data: bytes, reader: PdfFileReader, embedded: Sequence[Any],
                results: list[SignatureResult]) -> None:
    """Bytes after the end of the last revision are covered by no signature: a signature of
    the last revision must reach the end of the file (bar trailing white space)."""
    last = reader.xrefs.total_revisions - 1
    end = len(data.rstrip(b"\x00\t\n\x0c\r "))
    for sig, result in zip(embedded, results[: len(embedded)], strict=True):
        try:
            offset, length = (int(v) for v in list(sig.sig_object["/ByteRange"])[2:4])
            uncovered = sig.signed_revision == last and offset + length < end
        except Exception:  # noqa: BLE001 - malformed ranges are reported by pyHanko
            continue
        if uncovered and result.valid:
            result.reason = "partial"


def _signature_fields(reader: PdfFileReader) -> list[str]:
    """Names of the document's signature fields (top level; bounded)."""
    acroform = reader.root.get("/AcroForm")
    if acroform is None:
        return []
    names = []
    for ref in list(acroform.get_object().get("/Fields", []))[: max_signatures() + 1]:
        field = ref
        if isinstance(ref, IndirectObject):  # pyhanko left this get_object unannotated
            field = ref.get_object()  # type: ignore[no-untyped-call]
        if isinstance(field, DictionaryObject) and field.get("/FT") == "/Sig":
            names.append(str(field.get("/T", "")))
    return names


def _check_signature(sig: Any, expected: Expected, trust: _Trust) -> SignatureResult:
    result = SignatureResult(field=str(sig.field_name or ""))
    try:
        cert = sig.signer_cert
        result.signer_subject = cert.subject.human_friendly
        result.signer_name = (_cert_names(cert) or [""])[0]
        result.issuer = cert.issuer.human_friendly
        result.serial = format(cert.serial_number, "x")
        claimed = _aware(sig.self_reported_timestamp)
        result.signing_time = _naive_utc(claimed)
        certificates = sig.signed_data["certificates"]
        if certificates and len(certificates) > max_certificates():
            result.reason = "too_many_certificates"
            return result
        stamped = _timestamp_time(sig)
        status = _validate(sig, expected, trust, claimed, stamped, result)
        if stamped is not None and result.timestamp_status != "trusted":
            # the timestamp proves nothing: judge again on the signer's own claim
            stamped = None
            status = _validate(sig, expected, trust, claimed, None, result)
    except Exception as exc:  # noqa: BLE001 - any malformed signature is a result, not a 500
        log.info("unreadable signature in field %r: %s", result.field, type(exc).__name__)
        result.reason = "unreadable"
        return result
    result.intact = bool(status.intact and status.valid)
    result.trusted = bool(status.trusted)
    level = status.modification_level
    result.modification_level = level.name.lower() if level is not None else ""
    result.matched = match_person(cert, expected)
    result.reason = _reason(status, result)
    if result.reason == "untrusted" and not _valid_at(cert, result.validity_time):
        result.reason = "expired"  # pyHanko calls "not yet valid" a general chain failure
    if result.reason == "untrusted" and trust.hard and _trusted_under_soft_fail(
            sig, expected, trust, claimed, stamped):
        result.reason = "revocation_unknown"
    if result.reason in ("ok", "name_mismatch") and _listed_as_revoked(status, trust, result):
        result.reason = "revoked"
    return result


def _valid_at(cert: x509.Certificate, when: datetime.datetime | None) -> bool:
    if when is None:
        return True
    validity = cert["tbs_certificate"]["validity"]
    moment = _aware(when)
    return bool(validity["not_before"].native <= moment <= validity["not_after"].native)


def _trusted_under_soft_fail(sig: Any, expected: Expected, trust: _Trust,
                             claimed: datetime.datetime | None,
                             stamped: datetime.datetime | None) -> bool:
    """Under hard-fail, did the chain fail only for want of revocation information? (pyHanko
    reports it as a general chain failure; the same chain judged under soft-fail tells.)"""
    lenient = dataclasses.replace(trust, hard=False)
    try:
        probe = _validate(sig, expected, lenient, claimed, stamped, SignatureResult(field=""))
    except Exception:  # noqa: BLE001 - then it stays "untrusted"
        return False
    return bool(probe.trusted)


def signing_moment(claimed: datetime.datetime | None, stamped: datetime.datetime | None,
                   issued_after: datetime.datetime | None, now: datetime.datetime
                   ) -> tuple[datetime.datetime, str]:
    """The time a signature's certificates are judged at (aware UTC), and where it comes
    from (a TIME_SOURCES code).

    With a trusted timestamp: the claimed time when it lies within ``TIMESTAMP_LAG`` before
    the timestamp, else the timestamp's (a signature cannot be younger than its timestamp,
    and a claim far older is not believed). Without one: the claimed time, kept between the
    request's creation and the upload (the form did not exist before; the signature did at
    upload). No claimed time: the timestamp's, or the upload."""
    if stamped is not None:
        if claimed is not None and stamped - TIMESTAMP_LAG <= claimed <= stamped:
            return claimed, "timestamp"
        return stamped, "timestamp"
    if claimed is None:
        return now, "upload"
    low = _aware(issued_after) if issued_after is not None else claimed
    return min(max(claimed, low), now), "signer"


def _validate(sig: Any, expected: Expected, trust: _Trust, claimed: datetime.datetime | None,
              stamped: datetime.datetime | None, result: SignatureResult) -> Any:
    """pyHanko's verdict with the certificates judged at the signing time; fills in the
    result's timing fields."""
    moment, source = signing_moment(claimed, stamped, expected.issued_after, trust.now)
    status = validate_pdf_signature(
        sig,
        signer_validation_context=trust.context(moment, point_in_time=source == "timestamp"),
        ts_validation_context=trust.context(timestamps=True),
        key_usage_settings=KeyUsageConstraints(
            key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False),
    )
    result.validity_time, result.time_source = _naive_utc(moment), source
    stamp = status.timestamp_validity
    if stamp is not None:
        result.timestamp_time = _naive_utc(_aware(stamp.timestamp))
        signer = getattr(stamp, "signing_cert", None)
        result.timestamp_authority = signer.subject.human_friendly if signer else ""
        result.timestamp_status = (
            "invalid" if not (stamp.intact and stamp.valid)
            else "trusted" if stamp.trusted else "untrusted")
    return status


def _timestamp_time(sig: Any) -> datetime.datetime | None:
    """The time in the signature's (first) RFC 3161 timestamp token, not yet checked; None
    without one. Read with asn1crypto: pyHanko's helpers for this moved between versions."""
    attributes = sig.signer_info["unsigned_attrs"]
    if not isinstance(attributes, cms.CMSAttributes):
        return None
    for attribute in attributes:
        if attribute["type"].native == "signature_time_stamp_token":
            for token in attribute["values"]:
                info = token["content"]["encap_content_info"]["content"].parsed
                generated: datetime.datetime = info["gen_time"].native  # asn1crypto: untyped
                return _aware(generated)
    return None


def _listed_as_revoked(status: Any, trust: _Trust, result: SignatureResult) -> bool:
    """Is a certificate of the validated chain on one of the configured CRL files? pyHanko
    reads CRLs only for certificates that name a distribution point: the operator's files
    count for every certificate. The CRL must be signed by the certificate's issuer. With a
    trusted timestamp, a revocation after the signing time does not count."""
    path = status.validation_path
    if not trust.crls or path is None:
        return False
    chain = [cx509.load_der_x509_certificate(c.dump())
             for c in path.iter_certs(include_root=True)]
    control = trust.now
    if result.time_source == "timestamp" and result.validity_time is not None:
        control = _aware(result.validity_time)
    crls = [cx509.load_der_x509_crl(c.dump()) for c in trust.crls]
    for cert in chain:
        issuer = next((c for c in chain if c.subject == cert.issuer), None)
        if issuer is None or cert.subject == cert.issuer:  # a root is trusted as configured
            continue
        for crl in crls:
            if crl.issuer != cert.issuer:
                continue
            if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and _revocation_date(entry) <= control:
                return True
    return False


def _revocation_date(entry: Any) -> datetime.datetime:
    # cryptography >= 42
    when: datetime.datetime | None = getattr(entry, "revocation_date_utc", None)
    if when is None:
        when = entry.revocation_date.replace(tzinfo=datetime.timezone.utc)
    return when


def _reason(status: Any, result: SignatureResult) -> str:
    if not result.intact:
        return "not_intact"
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE,
                               SignatureCoverageLevel.ENTIRE_REVISION):
        return "partial"
    if status.modification_level not in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES,
                                         ModificationLevel.FORM_FILLING) \
            or not status.docmdp_ok:
        return "modified"
    if status.revoked:
        return "revoked"
    if not result.trusted:
        return _trust_problem(status)
    if result.matched is None:
        return "name_mismatch"
    return "ok"


def _trust_problem(status: Any) -> str:
    problem = str(getattr(status, "trust_problem_indic", "") or "").upper()
    if "REVOKED" in problem:
        return "revoked"
    if any(word in problem for word in ("EXPIRED", "NOT_YET_VALID", "OUT_OF_BOUNDS")):
        return "expired"
    if "TRY_LATER" in problem or "REVINFO" in problem:
        return "revocation_unknown"  # hard-fail: the revocation status could not be had
    return "untrusted"


@overload
def _aware(value: datetime.datetime) -> datetime.datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    """``value`` as an aware UTC time (a naive one is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _naive_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def _form_check(reader: PdfFileReader, first: Any, expected: Expected) -> str:
    """Is the first signed revision the form issued for this request? Same form id in its
    document information, and the seal over its pages' content made with the portal's key."""
    try:
        historical = reader.get_historical_resolver(first.signed_revision)
        info = _info(reader, historical)
        found_id = str(info.get(pdf.INFO_FORM_ID, "") or "")
        seal = str(info.get(pdf.INFO_SEAL, "") or "")
        if not found_id:
            return "no_form_id"
        if not tokens.same_secret(found_id, form_id(expected.request_id)):
            return "other_request"
        digest = pdf.content_hash(_page_streams(historical))
    except Exception as exc:  # noqa: BLE001 - a malformed structure is a result
        log.info("form check failed: %s", type(exc).__name__)
        return "unreadable"
    if not tokens.same_secret(seal, form_seal(expected.request_id, digest)):
        return "content_changed"
    return "ok"


def _info(reader: PdfFileReader, historical: Any) -> dict[str, Any]:
    trailer = historical.trailer_view if hasattr(historical, "trailer_view") else reader.trailer
    ref = trailer.get("/Info") if hasattr(trailer, "get") else None
    if ref is None:
        return {}
    info = historical(ref.reference) if isinstance(ref, IndirectObject) else ref
    return {str(k): v for k, v in info.items()} if isinstance(info, dict) else {}


def _page_streams(historical: Any) -> Iterable[list[bytes]]:
    root = historical.root if hasattr(historical, "root") else historical.trailer_view["/Root"]
    yield from _walk_pages(root["/Pages"], depth=0)


def _walk_pages(node: Any, depth: int) -> Iterable[list[bytes]]:
    if depth > 32:
        raise ValueError("page tree too deep")
    node = node.get_object() if hasattr(node, "get_object") else node
    if node.get("/Type") == "/Pages":
        for kid in node["/Kids"]:
            yield from _walk_pages(kid, depth + 1)
        return
    contents = node.get("/Contents")
    if contents is None:
        yield []
        return
    contents = contents.get_object() if hasattr(contents, "get_object") else contents
    items = contents if isinstance(contents, list) else [contents]
    yield [(i.get_object() if hasattr(i, "get_object") else i).data for i in items]
