"""Packaging for ckanext-dgaaccounts (src-style: the code lives in ckanext-dgaaccounts/)."""
from setuptools import find_namespace_packages, setup

SRC = "ckanext-dgaaccounts"

setup(
    name="ckanext-dgaaccounts",
    version="0.1.0",
    description=(
        "Account workflows for an open-government-data portal: agency officer "
        "registration with a signed form, developer sign-up with a verified email "
        "and an API token, account cancellation and suspension, an approval queue."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    python_requires=">=3.10",
    package_dir={"": SRC},
    packages=find_namespace_packages(where=SRC, include=["ckanext.*"]),
    include_package_data=True,
    package_data={
        "ckanext.dgaaccounts": [
            "config_declaration.yaml",
            "templates/**/*.html",
            "templates/**/*.txt",
            "i18n/*.pot",
            "i18n/*/LC_MESSAGES/*.po",
            "i18n/*/LC_MESSAGES/*.mo",
            "migration/dgaaccounts/*.ini",
            "migration/dgaaccounts/*.mako",
            "migration/dgaaccounts/README",
            "migration/dgaaccounts/versions/*.py",
            "public/**/*",
        ],
    },
    install_requires=[
        "fpdf2>=2.8,<3",
        "uharfbuzz>=0.39",
        "fontpkg-sarabun>=1.0",
        # parsing uploaded PDFs (active content, object streams): qpdf
        "pikepdf>=8,<11",
        # verifying digitally signed forms (PAdES): signatures, chains, revocation
        # (brings pyhanko-certvalidator). Both ends tested: 0.38.0 (certvalidator 0.33.0) by
        # the suite, 0.25.0 (certvalidator 0.26.8) by tests/test_signatures.py,
        # test_signature_time.py and security/test_signature_inputs.py on 2026-12-07
        "pyhanko>=0.25,<0.39",
        # sign-in with ThaID / DGA Digital ID: OAuth 2 + OpenID Connect client and JOSE
        "Authlib>=1.6,<2",
        # ... and the ID token check (JOSE): joserfc, which Authlib itself now builds on
        "joserfc>=1.0,<2",
    ],
    entry_points={
        "ckan.plugins": [
            "dgaaccounts = ckanext.dgaaccounts.plugin:DgaAccountsPlugin",
        ],
        "babel.extractors": [
            "ckan = ckan.lib.extract:extract_ckan",
        ],
    },
    message_extractors={
        SRC: [
            ("**.py", "python", None),
            ("**.js", "javascript", None),
            ("**/templates/**.html", "ckan", None),
            ("**/templates/**.txt", "ckan", None),
        ],
    },
)
