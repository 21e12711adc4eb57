"""The queue listings the benchmark times (bench/driver.py) and explains (bench/explain.py)."""
from __future__ import annotations

# name -> parameters of dgaaccounts_request_list (and of the queue page, where it has them)
LIST_SCENARIOS: dict[str, dict] = {
    "open requests (the queue's default)": {},
    "state=submitted": {"state": "submitted"},
    "kind=agency_registration": {"kind": "agency_registration"},
    "overdue": {"overdue": True},
    "q= one applicant's email": {"q": "applicant424@"},
    "q= a common word, state=approved": {"q": "agency7", "state": "approved"},
    "page 10 of the open requests": {"offset": 180},
    "state=approved (the history)": {"state": "approved"},
}

# name -> query string of /ckan-admin/dgaaccounts/
PAGE_SCENARIOS: dict[str, dict] = {
    "queue page (default)": {},
    "queue page, state=submitted, page 2": {"state": "submitted", "page": 2},
}
