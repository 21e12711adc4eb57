"""Accounts the benchmark needs, made with CKAN's own actions; prints them as JSON.

    python bench/seed.py var/bench/ext.ini > var/bench/seed.json

* four sysadmins ``bench-admin-1`` .. ``bench-admin-4``, each with an API token;
* an ordinary active user ``bench-user`` with an API token (for the overhead calls);
* an organization ``bench-agency`` (approvals of agency registrations go into it).

Run once on a fresh database, before the servers start.
"""
from __future__ import annotations

import json
import sys

from ckan.cli import load_config
from ckan.config.middleware import make_app

PASSWORD = "Bench-Passw0rd-2026"


def main() -> None:
    app = make_app(load_config(sys.argv[1]))
    import ckan.model as model
    from ckan.plugins import toolkit as tk

    out: dict = {"sysadmins": []}
    with app._wsgi_app.test_request_context():
        site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]

        def user(name: str, sysadmin: bool) -> dict:
            created = tk.get_action("user_create")(
                {"user": site_user, "ignore_auth": True},
                {"name": name, "email": f"{name}@example.go.th", "password": PASSWORD,
                 "fullname": name.replace("-", " ").title()})
            if sysadmin:
                obj = model.User.get(created["id"])
                obj.sysadmin = True
                model.Session.commit()
            token = tk.get_action("api_token_create")(
                {"user": name, "ignore_auth": True}, {"user": name, "name": "bench"})["token"]
            return {"id": created["id"], "name": name, "token": token}

        for n in range(1, 5):
            out["sysadmins"].append(user(f"bench-admin-{n}", sysadmin=True))
        out["user"] = user("bench-user", sysadmin=False)
        org = tk.get_action("organization_create")(
            {"user": "bench-admin-1", "ignore_auth": True},
            {"name": "bench-agency", "title": "หน่วยงานทดสอบ (benchmark)"})
        out["organization"] = {"id": org["id"], "name": org["name"]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
