"""The developer's token comes from CKAN's token API, so CKAN's expire_api_token applies."""
from __future__ import annotations

import pytest

from ckan.lib import api_token
from ckan.tests import helpers

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts expire_api_token"),
    pytest.mark.ckan_config("expire_api_token.default_lifetime", 600),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]


def test_issued_token_expires_when_expire_api_token_is_enabled(smtp, deliver):
    helpers.call_action("dgaaccounts_developer_register", name="dev_lek", fullname="Lek",
                        email="lek@example.com", password="Dev-Passw0rd-42")
    deliver()
    verified = helpers.call_action("dgaaccounts_email_verify", token=smtp.link("lek@example.com"))
    claims = api_token.decode(verified["api_token"])
    assert claims["exp"] - claims["iat"] == 600
