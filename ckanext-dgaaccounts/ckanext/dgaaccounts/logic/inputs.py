"""Input that can never be stored or looked up, refused before any action of the extension
runs: a NUL character (PostgreSQL cannot take one in text) or a lone surrogate (JSON can
carry one; UTF-8 cannot encode it).

The schemas refuse them field by field, but an action looks rows up before its schema runs
(its auth function reads the request, the user, the organization), and a lookup with such a
value is a 500. Every action the extension registers goes through :func:`guarded`, so no
action, present or future, can forget it; the web pages check their addresses the same way
(``views_common.refuse_unstorable``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import ckan.plugins.toolkit as tk


def storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean(value: Any, depth: int = 0) -> bool:
    """Every text in ``value`` (keys too, lists and dicts within) is storable."""
    if isinstance(value, str):
        return storable(value)
    if depth > 20:  # deeper than any action reads: left to the schema
        return True
    if isinstance(value, dict):
        return all(_clean(k, depth + 1) and _clean(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_clean(item, depth + 1) for item in value)
    return True


def refuse_unstorable(data_dict: Any) -> None:
    """ValidationError naming each field (top-level key) whose value cannot be stored."""
    if not isinstance(data_dict, dict):
        return
    message = tk._("Contains characters that are not allowed.")
    errors: dict[str, Any] = {}
    for key, value in data_dict.items():
        if not _clean(value):
            errors[key if isinstance(key, str) and storable(key) else "__field"] = [message]
        elif isinstance(key, str) and not storable(key):
            errors["__field"] = [message]
    if errors:
        raise tk.ValidationError(errors)


def guarded(action: Callable[..., Any]) -> Callable[..., Any]:
    """``action`` (plain or chained: its data_dict is the last argument) refusing unstorable
    input first; its attributes (side_effect_free, chained_action, auth_audit_exempt) kept."""

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        refuse_unstorable(args[-1] if args else None)
        return action(*args, **kwargs)

    return run


def actions() -> dict[str, Callable[..., Any]]:
    """The extension's actions (``logic.action.__all__``), each :func:`guarded`."""
    from . import action

    return {name: guarded(getattr(action, name)) for name in action.__all__}
