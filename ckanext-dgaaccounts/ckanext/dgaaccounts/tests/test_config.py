"""Every option is declared with a default and documented in the README."""
from __future__ import annotations

import os

import yaml

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))


def _options() -> list[dict]:
    with open(os.path.join(HERE, "..", "config_declaration.yaml"), encoding="utf-8") as f:
        decl = yaml.safe_load(f)
    return [o for group in decl["groups"] for o in group["options"]]


def test_every_option_is_in_the_readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    missing = [o["key"] for o in _options() if f"`{o['key']}`" not in readme]
    assert missing == []


def test_every_option_has_a_description_and_our_prefix():
    for option in _options():
        assert option["key"].startswith("ckanext.dgaaccounts."), option["key"]
        assert option.get("description"), option["key"]


def test_declared_defaults_are_read_through_config(ckan_config):
    from ckanext.dgaaccounts import config

    assert config.service_time().total_seconds() == 24 * 3600
    assert config.upload_types() == ["application/pdf", "image/jpeg", "image/png"]
    assert config.default_role() == "editor"
