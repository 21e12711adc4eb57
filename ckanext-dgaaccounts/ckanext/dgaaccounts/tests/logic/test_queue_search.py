"""The queue's search (``dgaaccounts_request_list`` with ``q``): every field it promises, each
request once, the filters and the paging, as rewritten for the trigram indexes (migration 0004,
measured by bench/run.sh)."""
from __future__ import annotations

import pytest

from ckan.tests import helpers

from ckanext.dgaaccounts.tests.conftest import registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]


def _ids(**params) -> tuple[int, list[str]]:
    result = helpers.call_action("dgaaccounts_request_list", **params)
    return result["count"], [r["id"] for r in result["results"]]


@pytest.fixture
def two():
    somchai = helpers.call_action("dgaaccounts_agency_register", **registration(
        name="somchai", fullname="สมชาย ใจดี", email="somchai@dga.or.th",
        agency_name="กรมทดสอบระบบ"))
    ploy = helpers.call_action("dgaaccounts_agency_register", **registration(
        name="ploy", fullname="พลอย ศรีสุข", email="ploy@dga.or.th",
        agency_name="สำนักงานสถิติ"))
    return somchai, ploy


def test_every_field_is_searched(two):
    somchai, ploy = two
    assert _ids(q="ใจดี") == (1, [somchai["request_id"]])  # full name
    assert _ids(q="สถิติ") == (1, [ploy["request_id"]])  # agency name
    assert _ids(q="PLOY@DGA") == (1, [ploy["request_id"]])  # email, any case
    assert _ids(q="somch") == (1, [somchai["request_id"]])  # username (and email)
    assert _ids(q=ploy["reference"]) == (1, [ploy["request_id"]])  # reference


def test_a_request_found_twice_counts_once_and_pages_follow_the_queue(two):
    somchai, ploy = two
    assert _ids(q="dga.or.th") == (2, [somchai["request_id"], ploy["request_id"]])
    assert _ids(q="dga.or.th", limit=1, offset=1) == (2, [ploy["request_id"]])
    assert _ids(q="dga.or.th", offset=5) == (2, [])  # past the end: the count stays
    assert _ids(q="somchai") == (1, [somchai["request_id"]])  # username and email match


def test_filters_apply_to_the_search(two):
    somchai, _ploy = two
    assert _ids(q="dga.or.th", state="approved") == (0, [])
    assert _ids(q="dga.or.th", kind="cancellation") == (0, [])
    assert _ids(q="ใจดี", kind="agency_registration", state="awaiting_verification") == (
        1, [somchai["request_id"]])
    assert _ids(q="ใจดี", overdue=True) == (0, [])


def test_wildcards_are_literal(two):
    assert _ids(q="_") == (0, [])
    assert _ids(q="%") == (0, [])
    assert _ids(q="\\") == (0, [])


def test_a_search_tells_how_many_more_match_in_other_states(two):
    somchai, ploy = two
    helpers.call_action("dgaaccounts_request_withdraw", id=ploy["request_id"])
    found = helpers.call_action("dgaaccounts_request_list", q="dga.or.th")
    assert (found["count"], found["other_states"]) == (1, 1)  # open ones only, by default
    assert [r["id"] for r in found["results"]] == [somchai["request_id"]]
    everywhere = helpers.call_action("dgaaccounts_request_list", q="dga.or.th", every_state=True)
    assert (everywhere["count"], everywhere["other_states"]) == (2, 0)
    assert {r["id"] for r in everywhere["results"]} == {somchai["request_id"], ploy["request_id"]}
    withdrawn = helpers.call_action("dgaaccounts_request_list", q="dga.or.th", state="withdrawn")
    assert (withdrawn["count"], withdrawn["other_states"]) == (1, 1)
    # Other filters still apply to the count of the other states.
    assert helpers.call_action("dgaaccounts_request_list", q="dga.or.th",
                               kind="cancellation")["other_states"] == 0
    assert "other_states" not in helpers.call_action("dgaaccounts_request_list")
