"""CKAN's own validation messages, in the words of the extension's pages.

Our schemas use CKAN's validators (not_empty, name_validator, email_validator); their messages
are CKAN jargon ("Missing value") or untranslated in CKAN's Thai catalog. The actions put them
in plain words, translated in the extension's catalog, before raising the ValidationError.
"""
from __future__ import annotations

from typing import Any

from ckan.plugins import toolkit as tk

# CKAN's messages, looked up in CKAN's catalog under another name than ``_``, so that the
# extension's catalog does not extract (and translate over) CKAN's own msgids.
ckan_message = tk._


def plain_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """The errors of a validation with CKAN's own messages for our fields put in the
    extension's words (translated in its catalog): "Missing value" says what to do, the
    username rule is the one the forms show before typing, CKAN's email message is
    untranslated in Thai."""
    required = ckan_message("Missing value")
    username_rule = ckan_message(
        "Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_")
    username_short = ckan_message("Must be at least %s characters long") % 2
    email_head, _sep, email_tail = ckan_message("Email {email} is not a valid format").partition(
        "{email}")
    plain: dict[str, Any] = {}
    for field, messages in errors.items():
        if not isinstance(messages, list):
            plain[field] = messages
            continue
        words = []
        for message in messages:
            text = str(message)
            if text == required:
                text = tk._("Fill in this field.")
            elif field == "name" and text in (username_rule, username_short):
                text = tk._('Use at least 2 characters: only lowercase English letters (a-z), '
                            'digits, "-" and "_", no Thai letters or spaces.')
            elif field == "email" and _sep and text.startswith(email_head) and text.endswith(
                    email_tail):
                text = tk._("Enter an email address, for example somchai@agency.go.th.")
            words.append(text)
        plain[field] = words
    return plain
