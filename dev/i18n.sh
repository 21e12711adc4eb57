#!/usr/bin/env bash
# Translations of ckanext-dgaaccounts: extract -> update -> compile.
#
#   dev/i18n.sh                # all three steps, for every locale under i18n/ (today: th)
#   dev/i18n.sh extract        # only refresh i18n/ckanext-dgaaccounts.pot
#   dev/i18n.sh update         # only merge the .pot into every i18n/<locale>/LC_MESSAGES/*.po
#   dev/i18n.sh compile        # only compile every .po into its .mo
#   dev/i18n.sh init <locale>  # start a new language from the .pot (then run dev/i18n.sh)
#
# The steps are Babel's setuptools commands, run from the repository root:
#   python setup.py extract_messages   # [extract_messages] in setup.cfg; the file mapping is
#                                      # message_extractors in setup.py: "python" for *.py, CKAN's
#                                      # "ckan" Jinja extractor for templates/**.html and the
#                                      # plain-text email templates templates/**.txt
#   python setup.py update_catalog     # [update_catalog]; new strings arrive untranslated, changed
#                                      # ones as "fuzzy" with the previous msgid (#|) to help
#   python setup.py compile_catalog    # [compile_catalog]; fuzzy entries are NOT compiled
# Domain ckanext-dgaaccounts, directory ckanext-dgaaccounts/ckanext/dgaaccounts/i18n: what the
# plugin's DefaultTranslation (web pages) and mail.render (emails) load.
#
# After `update`, translate every empty msgstr and remove every "#, fuzzy" flag in the .po (Thai:
# msgstr[0] only for plurals, nplurals=1), then run `dev/i18n.sh compile` and commit the .pot,
# .po and .mo together. tests/test_i18n.py fails while a marked string is missing from the .po, a
# msgstr is empty or fuzzy, or the .mo is older than the .po.
#
# A .pot that differs only in its POT-Creation-Date is not rewritten, so running this on
# unchanged sources changes no file. Python: $PYTHON, else a CKAN 2.11 venv (it has Babel and
# CKAN, whose "ckan" Jinja extractor is needed): ~/.cache/dga/venv-2.11, else the one
# dev/venv.sh 2.11.6 makes (and creates if missing). Keep one Babel version for the committed
# files: its version is written in the headers.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
I18N=ckanext-dgaaccounts/ckanext/dgaaccounts/i18n
POT=$I18N/ckanext-dgaaccounts.pot

if [ -z "${PYTHON:-}" ]; then
    for venv in "$HOME/.cache/dga/venv-2.11" "${DGA_VENV_ROOT:-$HOME/.cache/dgaaccounts}/venv-2.11.6"; do
        if [ -x "$venv/bin/python" ]; then PYTHON=$venv/bin/python; break; fi
    done
fi
if [ -z "${PYTHON:-}" ]; then
    PYTHON=$("$REPO/dev/venv.sh" 2.11.6 | tail -n 1)/bin/python
fi

log() { printf '[i18n] %s\n' "$*" >&2; }

extract() {
    local tmp
    tmp=$(mktemp "${TMPDIR:-/tmp}/dgaaccounts-pot.XXXXXX")
    "$PYTHON" setup.py -q extract_messages --output-file "$tmp"
    if [ -f "$POT" ] && diff -q <(grep -v '^"POT-Creation-Date:' "$POT") \
                               <(grep -v '^"POT-Creation-Date:' "$tmp") >/dev/null; then
        log "$POT unchanged"
        rm -f "$tmp"
    else
        mv "$tmp" "$POT"
        chmod 644 "$POT"
        log "$POT: $(( $(grep -c '^msgid ' "$POT") - 1 )) messages"
    fi
}

update() {
    "$PYTHON" setup.py -q update_catalog
}

compile() {
    "$PYTHON" setup.py -q compile_catalog
}

case "${1:-all}" in
    all) extract; update; compile ;;
    extract) extract ;;
    update) update ;;
    compile) compile ;;
    init)
        [ -n "${2:-}" ] || { log "usage: dev/i18n.sh init <locale>"; exit 2; }
        "$PYTHON" setup.py -q init_catalog --locale "$2"
        ;;
    *) log "usage: dev/i18n.sh [all|extract|update|compile|init <locale>]"; exit 2 ;;
esac
