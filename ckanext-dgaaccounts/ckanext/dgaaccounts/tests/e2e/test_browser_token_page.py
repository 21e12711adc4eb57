"""A double click never loses a developer's token: headless Chromium at a phone's width."""
from __future__ import annotations

import pytest

from ckanext.dgaaccounts.tests.security.conftest import developer_request

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.usefixtures("with_plugins"),
]


def test_double_click_shows_the_token_and_a_revisit_says_it_was_shown(new_page, live_server):
    dev = developer_request("dbl_dev", "dbl_dev@example.com")
    link = live_server(f"/dgaaccounts/verify/{dev['verify']}")
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(link)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.method) if r.method == "POST" else None)
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.dblclick("#dgaaccounts-verify-submit")
    assert posts == ["POST"]  # the button disabled itself on the first press
    assert page.locator("#dgaaccounts-api-token").count() == 1, page.inner_text("article")
    token = page.inner_text("#dgaaccounts-api-token").strip()
    assert len(token) > 40
    # The token wraps inside its box: no horizontal scrolling at 390 px.
    box = page.eval_on_selector(
        "#dgaaccounts-api-token",
        "e => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right]")
    assert box[0] <= box[1]
    assert box[2] <= 390

    page.goto(link)  # the link from the email again, e.g. to look at the token once more
    assert "already shown" in page.inner_text("article")
    assert token not in page.content()
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.get_by_role("link", name="My API tokens").click()
    assert "/user/login" not in page.url
    assert page.url.endswith("/user/dbl_dev/api-tokens")
