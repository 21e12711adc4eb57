"""IApiToken hooks of the plugin (plugin.py delegates to these): every token that CKAN creates
gets an expiry within the maximum lifetime, whichever path created it."""
from __future__ import annotations

import datetime
from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Schema

from . import apitokens


def create_api_token_schema(schema: Schema) -> Schema:
    # The chained api_token_create has checked and capped these; let them through to
    # postprocess_api_token (expire_api_token, when loaded, declares its own).
    for field in ("expires_in", "unit"):
        schema.setdefault(field, [tk.get_validator("ignore_missing"),
                                  tk.get_validator("int_validator")])
    return schema


def postprocess_api_token(data: dict[str, Any], jti: str,
                          data_dict: dict[str, Any]) -> dict[str, Any]:
    token = model.ApiToken.get(jti)
    if token is None:
        return data
    asked = int(data_dict.get("expires_in") or 0) * int(data_dict.get("unit") or 1)
    seconds, capped = apitokens.cap(token.owner, asked or None)
    expires = apitokens.now() + datetime.timedelta(seconds=seconds)
    if isinstance(data.get("exp"), (int, float)):  # another plugin set one: the earlier
        expires = min(expires, datetime.datetime.fromtimestamp(
            data["exp"], datetime.timezone.utc).replace(tzinfo=None))
    data["exp"] = int(expires.replace(tzinfo=datetime.timezone.utc).timestamp())
    apitokens.record_expiry(token, expires, capped=capped)
    return data
