"""The kinds of request and the states of a request: names only, so that any module may import
them (``workflow`` says which moves between the states are legal, and re-exports these)."""
from __future__ import annotations

AGENCY = "agency_registration"
DEVELOPER = "developer_registration"
CANCELLATION = "cancellation"
SUSPENSION = "suspension"
KINDS = (AGENCY, DEVELOPER, CANCELLATION, SUSPENSION)
# Registrations wait with a pending account; the other kinds were asked by an active one.
REGISTRATIONS = (AGENCY, DEVELOPER)
ACCOUNT_CHANGES = (CANCELLATION, SUSPENSION)

AWAITING_VERIFICATION = "awaiting_verification"
AWAITING_DOCUMENT = "awaiting_document"
SUBMITTED = "submitted"
RETURNED = "returned"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"
OPEN_STATES = (AWAITING_VERIFICATION, AWAITING_DOCUMENT, SUBMITTED, RETURNED)
CLOSED_STATES = (APPROVED, REJECTED, WITHDRAWN, EXPIRED)
STATES = OPEN_STATES + CLOSED_STATES
DECIDED_STATES = (APPROVED, REJECTED)
# The account's states in the audit trail of a reactivation (not a request's).
SUSPENDED = "suspended"
ACTIVE = "active"
