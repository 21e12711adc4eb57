"""The agencies (CKAN organizations) an officer chooses from, by their titles.

An organization's title is its Thai name; an English name may be given in the organization's
``title_en`` extra (``organization_patch(id=..., extras=[{"key": "title_en", ...}])``). The
registration form offers both in its type-ahead and shows the chosen agency by its title, never
by its URL name; a title typed by hand is found here.
"""
from __future__ import annotations

import unicodedata

from sqlalchemy import and_

import ckan.model as model

TITLE_EN = "title_en"


def active() -> list[dict[str, str]]:
    """Every active organization: ``id``, ``name``, ``title`` and ``title_en`` ("" if none),
    ordered by title (one query)."""
    extra = getattr(model, "GroupExtra", None)
    if extra is not None:  # CKAN 2.11: extras are rows of their own table
        query = model.Session.query(
            model.Group.id, model.Group.name, model.Group.title, extra.value
        ).outerjoin(extra, and_(extra.group_id == model.Group.id, extra.key == TITLE_EN,
                                extra.state == "active"))
    else:  # CKAN 2.12: extras are a JSONB column of the group
        # (the table's column: CKAN 2.12 maps Group.extras without a type)
        query = model.Session.query(model.Group.id, model.Group.name, model.Group.title,
                                    model.group_table.c.extras[TITLE_EN].astext)
    rows = (
        query.filter(model.Group.is_organization.is_(True), model.Group.state == "active")
        .order_by(model.Group.title, model.Group.name)
    )
    return [{"id": id_, "name": name, "title": title or name, "title_en": (title_en or "").strip()}
            for id_, name, title, title_en in rows]


def _key(text: str) -> str:
    """Text compared the way a person reads it: NFC, case folded, runs of spaces as one."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def find_by_title(text: str) -> list[str]:
    """Ids of the organizations whose Thai or English title is ``text`` (up to case and
    spaces); if none, of those whose titles contain it. Several ids mean "choose"."""
    wanted = _key(text)
    if not wanted:
        return []
    orgs = active()
    exact = [o["id"] for o in orgs if wanted in (_key(o["title"]), _key(o["title_en"]))]
    if exact:
        return exact
    return [o["id"] for o in orgs
            if wanted in _key(o["title"]) or (o["title_en"] and wanted in _key(o["title_en"]))]


def title_of(value: str | None) -> str:
    """What the agency box shows for ``value``: the title of the organization it names (by id
    or name, as an API client or a pre-filled form gives it), else ``value`` as typed."""
    if not value:
        return ""
    group = model.Group.get(value)
    if group is not None and group.is_organization and group.state == "active":
        return group.title or group.name
    return value
