# syntax=docker/dockerfile:1
# CKAN with ckanext-dgaaccounts, on top of the official CKAN image (ckan/ckan-docker-base).
# Used by docker-compose.yml for the web server ("ckan") and the jobs worker ("worker").
#
#   docker compose build && docker compose up -d
#
# The official image's start script (start_ckan.sh -> prerun.py) waits for the database,
# runs `ckan db upgrade`, writes CKAN__PLUGINS into ckan.ini, creates the sysadmin from
# CKAN_SYSADMIN_* and then runs /docker-entrypoint.d/*.sh before starting uWSGI.
ARG CKAN_IMAGE=ckan/ckan-base:2.11
FROM ${CKAN_IMAGE}

USER root

# The image's prerun.py writes CKAN__PLUGINS into ckan.ini; envvars (from the base image)
# maps CKAN__* / CKANEXT__* variables onto config options. Keep envvars last.
ENV CKAN__PLUGINS="dgaaccounts envvars"

# Only what the package needs (no var/, .git, venvs): no .dockerignore required.
COPY setup.py setup.cfg README.md requirements-dev.txt ${APP_DIR}/src/ckanext-dgaaccounts/
COPY ckanext-dgaaccounts ${APP_DIR}/src/ckanext-dgaaccounts/ckanext-dgaaccounts

RUN set -eux; \
    cd "${APP_DIR}/src/ckanext-dgaaccounts"; \
    if ls ckanext-dgaaccounts/ckanext/dgaaccounts/i18n/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
        pybabel compile -D ckanext-dgaaccounts -d ckanext-dgaaccounts/ckanext/dgaaccounts/i18n; \
    fi; \
    pip3 install --no-cache-dir .; \
    python3 -c "import ckanext.dgaaccounts.plugin"; \
    # Settings that are the same for every deployment are baked into ckan.ini, so that the
    # worker container (which does not run start_ckan.sh) loads the same plugins.
    ckan config-tool "${CKAN_INI}" \
        "ckan.plugins = dgaaccounts envvars" \
        "ckan.csrf_protection.ignore_extensions = false" \
        "ckan.auth.create_user_via_web = true" \
        "ckan.auth.create_user_via_api = false" \
        "ckan.auth.public_user_details = false" \
        "ckan.auth.user_create_organizations = false" \
        "ckan.auth.user_create_groups = false" \
        "ckan.locale_default = en" \
        "ckan.locales_offered = en th" \
        "ckan.locale_order = en th"; \
    chown -R ckan-sys:ckan-sys "${APP_DIR}/src/ckanext-dgaaccounts"; \
    chown ckan:ckan-sys "${CKAN_INI}"

# Shared by the web and worker containers: put the deployment's secrets (from the
# environment, see docker-compose.yml) into ckan.ini, so both use the same ones.
RUN cat > "${APP_DIR}/dga-configure.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
: "${DGA_SECRET_KEY:?set DGA_SECRET_KEY (a long random string) in the environment}"
ckan config-tool "${CKAN_INI}" \
    "SECRET_KEY = ${DGA_SECRET_KEY}" \
    "WTF_CSRF_SECRET_KEY = ${DGA_SECRET_KEY}" \
    "api_token.jwt.encode.secret = string:${DGA_JWT_SECRET:-$DGA_SECRET_KEY}" \
    "api_token.jwt.decode.secret = string:${DGA_JWT_SECRET:-$DGA_SECRET_KEY}" >/dev/null
EOF
RUN chmod 755 "${APP_DIR}/dga-configure.sh"

# Sourced by start_ckan.sh after prerun.py, before uWSGI starts; `exit 1` stops the
# container rather than serving with a half-migrated database.
RUN cat > /docker-entrypoint.d/10-dgaaccounts.sh <<'EOF'
echo "[dgaaccounts] applying deployment secrets and the extension's migrations"
if ! /srv/app/dga-configure.sh || ! ckan -c "${CKAN_INI}" db upgrade -p dgaaccounts; then
    echo "[dgaaccounts] set-up failed, not starting CKAN"
    exit 1
fi
EOF
RUN chmod 644 /docker-entrypoint.d/10-dgaaccounts.sh && \
    chown -R ckan-sys:ckan-sys /docker-entrypoint.d

USER ckan
