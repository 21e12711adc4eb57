"""Demo data for the local development stack (dev/up.sh). Idempotent.

    python dev/demo_data.py dev/development.ini

Makes sure that
* the sysadmin ``admin`` (admin@example.go.th) exists, is active, is a sysadmin
  and has the password DGA_ADMIN_PASSWORD (default ``Demo-Admin-2026!``);
* a few demo organizations (Thai government agencies) exist.

Everything goes through CKAN's action API (ckanapi.LocalCKAN), like a real
client, except the sysadmin flag, which CKAN only lets the CLI/model set.
"""
from __future__ import annotations

import os
import sys

ADMIN_NAME = "admin"
ADMIN_EMAIL = "admin@example.go.th"
ADMIN_PASSWORD = os.environ.get("DGA_ADMIN_PASSWORD", "Demo-Admin-2026!")

ORGANIZATIONS = [
    {
        "name": "dopa",
        "title": "กรมการปกครอง",
        "description": "Department of Provincial Administration, Ministry of Interior "
        "(กรมการปกครอง กระทรวงมหาดไทย)",
    },
    {
        "name": "dga",
        "title": "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)",
        "description": "Digital Government Development Agency (Public Organization)",
    },
    {
        "name": "nso",
        "title": "สำนักงานสถิติแห่งชาติ",
        "description": "National Statistical Office, Ministry of Digital Economy and Society "
        "(สำนักงานสถิติแห่งชาติ กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม)",
    },
    {
        "name": "moph",
        "title": "กระทรวงสาธารณสุข",
        "description": "Ministry of Public Health (กระทรวงสาธารณสุข)",
    },
]


def ensure_admin(ckan, model) -> str:
    from ckanapi import NotFound

    try:
        ckan.action.user_show(id=ADMIN_NAME)
        status = "exists"
    except NotFound:
        ckan.action.user_create(
            name=ADMIN_NAME,
            email=ADMIN_EMAIL,
            password=ADMIN_PASSWORD,
            fullname="Portal Administrator",
        )
        status = "created"
    user = model.User.get(ADMIN_NAME)
    changed = []
    if not user.sysadmin:
        user.sysadmin = True
        changed.append("sysadmin")
    if user.state != "active":
        user.state = "active"
        changed.append("active")
    if not user.validate_password(ADMIN_PASSWORD):
        user.password = ADMIN_PASSWORD  # hashed by the model's setter
        changed.append("password reset")
    if changed:
        model.repo.commit()
        status += " (" + ", ".join(changed) + ")"
    return status


def ensure_organizations(ckan) -> list[str]:
    from ckanapi import NotFound

    lines = []
    for org in ORGANIZATIONS:
        try:
            ckan.action.organization_show(id=org["name"])
            lines.append(f"{org['name']}: exists")
        except NotFound:
            ckan.action.organization_create(**org)
            lines.append(f"{org['name']}: created")
    # The listing goes through the search index (the Solr stand-in in development).
    listed = ckan.action.organization_list(all_fields=True, include_dataset_count=True)
    names = {o["name"] for o in listed}
    missing = [o["name"] for o in ORGANIZATIONS if o["name"] not in names]
    if missing:
        raise SystemExit(f"organization_list misses {missing}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG.ini", file=sys.stderr)
        return 2
    from ckan.cli import load_config
    from ckan.config.middleware import make_app

    app = make_app(load_config(os.path.abspath(argv[1])))
    flask_app = app._wsgi_app

    import ckan.model as model
    from ckanapi import LocalCKAN

    with flask_app.test_request_context():
        ckan = LocalCKAN()
        print(f"[demo] sysadmin {ADMIN_NAME}: {ensure_admin(ckan, model)}", file=sys.stderr)
        for line in ensure_organizations(ckan):
            print(f"[demo] organization {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
