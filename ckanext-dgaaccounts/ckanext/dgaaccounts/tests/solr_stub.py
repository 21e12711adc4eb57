"""A minimal Solr STAND-IN for development and tests ONLY.

    *** This is NOT Solr and must never be used in production. ***
    Production (and any real deployment) uses a real Solr core with CKAN's
    schema -- see ``docker-compose.yml`` at the repository root
    (service ``solr``, image ``ckan/ckan-solr:2.11-solr9``).

Why it exists: the extension's tests and the local dev stack (``dev/up.sh``)
run on machines without Docker or Java, but CKAN core talks to Solr at start-up
(schema version check) and whenever it indexes or searches datasets. This
stub answers just enough of Solr's HTTP API for CKAN 2.11 and 2.12:

* ``GET <core>/schema?wt=schema.xml`` (managed schema) and
  ``GET <core>/admin/file/?file=schema.xml`` (classic schema): an XML
  document ``<schema name="ckan-2.11" version="1.6">``, which
  ``ckan.lib.search.check_solr_schema_version`` accepts (2.11 supports
  2.8-2.11, 2.12 supports 2.8-2.12);
* ``GET|POST <core>/select`` (what ``ckan.lib.search.common.is_available``
  and every ``package_search`` call use): always an EMPTY result in the JSON
  shape pysolr expects, with an empty list for every requested
  ``facet.field`` so that ``package_search`` facets and
  ``organization_list``/``organization_show`` with ``include_dataset_count``
  work (every count is 0);
* ``GET <core>/admin/ping``: ``{"status": "OK"}``;
* ``POST <core>/update`` (JSON or XML: add, delete, commit): accepted and
  discarded, answering ``{"responseHeader": {"status": 0, "QTime": 0}}``.

Nothing is stored: searches never find anything. Tests that need real search
results must not rely on this stub.

It only ever binds to the loopback interface. Standard library only.

Use from Python (tests)::

    server, url = start_in_thread()      # free port, e.g. http://127.0.0.1:41234/solr/ckan
    ...
    server.shutdown(); server.server_close()

or from a shell (dev)::

    python -m ckanext.dgaaccounts.tests.solr_stub --port 8983
    # -> solr_url = http://127.0.0.1:8983/solr/ckan
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

#: The schema name CKAN reads its version from ("ckan-X.Y"). 2.11 is accepted by
#: both CKAN 2.11 (SUPPORTED_SCHEMA_VERSIONS up to 2.11) and 2.12.
SCHEMA_NAME = "ckan-2.11"
SCHEMA_VERSION = "1.6"
CORE_PATH = "/solr/ckan"
SCHEMA_FILES = ("schema.xml", "managed-schema", "managed-schema.xml")

SCHEMA_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Development/test Solr stand-in (ckanext.dgaaccounts.tests.solr_stub); not a real schema. -->
<schema name="{SCHEMA_NAME}" version="{SCHEMA_VERSION}">
  <uniqueKey>index_id</uniqueKey>
</schema>
"""


def _loopback_only(host: str) -> str:
    """Refuse to bind anything but a loopback address."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"solr_stub binds to loopback addresses only, not {host!r}")


def _flatten(params: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in params.items() if v}


def _response_header(params: dict[str, str] | None = None) -> dict:
    header: dict = {"status": 0, "QTime": 0}
    if params:
        header["params"] = params
    return header


def empty_select_response(params: dict[str, list[str]]) -> dict:
    """The JSON pysolr.Results expects, for a query that matched nothing."""
    flat = _flatten(params)
    try:
        start = int(flat.get("start", "0") or 0)
    except ValueError:
        start = 0
    body: dict = {
        "responseHeader": _response_header(flat),
        "response": {"numFound": 0, "start": start, "numFoundExact": True, "docs": []},
    }
    if flat.get("facet", "").lower() == "true" or "facet.field" in params:
        body["facet_counts"] = {
            "facet_queries": {q: 0 for q in params.get("facet.query", [])},
            "facet_fields": {f: [] for f in params.get("facet.field", [])},
            "facet_ranges": {},
            "facet_intervals": {},
            "facet_heatmaps": {},
        }
    else:
        body["facet_counts"] = {"facet_queries": {}, "facet_fields": {}}
    if flat.get("hl", "").lower() == "true":
        body["highlighting"] = {}
    if "stats" in flat and flat["stats"].lower() == "true":
        body["stats"] = {"stats_fields": {}}
    if flat.get("cursorMark"):
        # Same mark back means "no more pages" to pysolr.
        body["nextCursorMark"] = flat["cursorMark"]
    return body


class SolrStubHandler(BaseHTTPRequestHandler):
    server_version = "DgaSolrStub/1.0"
    protocol_version = "HTTP/1.1"

    # -- plumbing ---------------------------------------------------------
    def log_message(self, fmt: str, *args) -> None:
        log.debug("solr_stub %s - " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, obj: dict, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        """Return (handler, params) with handler relative to the core, e.g. 'select'."""
        parts = urlsplit(self.path)
        params = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path.rstrip("/")
        # Accept /solr/<core>/<handler>, /solr/<handler> and /<handler>.
        segments = [s for s in path.split("/") if s]
        if segments and segments[0] == "solr":
            segments = segments[1:]
        handlers = ("select", "query", "update", "schema", "admin", "get")
        while segments and segments[0] not in handlers:
            segments = segments[1:]  # drop the core name
        return "/".join(segments), params

    # -- verbs --------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        handler, params = self._route()
        self._dispatch(handler, params, b"")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        handler, params = self._route()
        body = self._read_body()
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/x-www-form-urlencoded") and body:
            for key, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        self._dispatch(handler, params, body)

    def _dispatch(self, handler: str, params: dict[str, list[str]], body: bytes) -> None:
        if handler in ("select", "query"):
            self._send_json(empty_select_response(params))
        elif handler.startswith("update"):
            self._send_json({"responseHeader": _response_header()})
        elif handler == "get":
            self._send_json({"response": {"numFound": 0, "start": 0, "docs": []}, "doc": None})
        elif handler == "schema" or handler.startswith("schema/"):
            wt = _flatten(params).get("wt", "json")
            if handler == "schema" and wt == "schema.xml":
                self._send(200, SCHEMA_XML.encode("utf-8"), "application/xml; charset=utf-8")
            elif handler in ("schema/name", "schema"):
                self._send_json({"responseHeader": _response_header(), "name": SCHEMA_NAME})
            elif handler == "schema/version":
                self._send_json(
                    {"responseHeader": _response_header(), "version": float(SCHEMA_VERSION)}
                )
            else:
                self._send_json({"responseHeader": _response_header()})
        elif handler == "admin/file":
            if _flatten(params).get("file") in SCHEMA_FILES:
                self._send(200, SCHEMA_XML.encode("utf-8"), "application/xml; charset=utf-8")
            else:
                self._send_json({"error": {"msg": "not found", "code": 404}}, status=404)
        elif handler == "admin/ping":
            self._send_json({"responseHeader": _response_header(), "status": "OK"})
        elif handler in ("admin/cores", "admin/info/system"):
            self._send_json({"responseHeader": _response_header(), "status": {}})
        else:
            self._send_json(
                {"error": {"msg": f"solr_stub: unknown handler {handler!r}", "code": 404}},
                status=404,
            )


class SolrStubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(port: int = 0, host: str = "127.0.0.1") -> SolrStubServer:
    return SolrStubServer((_loopback_only(host), port), SolrStubHandler)


def _url(server: SolrStubServer) -> str:
    host, port = server.server_address[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{CORE_PATH}"


def start_in_thread(port: int = 0, host: str = "127.0.0.1") -> tuple[SolrStubServer, str]:
    """Start the stub in a daemon thread on a loopback port (0 = any free port).

    Returns ``(server, url)``, the url being the core URL to use as ``solr_url``
    (e.g. ``http://127.0.0.1:41234/solr/ckan``). Stop it with
    ``server.shutdown(); server.server_close()``.
    """
    server = make_server(port, host)
    thread = threading.Thread(
        target=server.serve_forever, name="solr-stub", kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()
    return server, _url(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Solr stand-in for CKAN development/tests only (never production)."
    )
    parser.add_argument("--port", type=int, default=8983)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    try:
        server = make_server(args.port, args.host)
    except ValueError as err:
        parser.error(str(err))

    def _stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"solr_stub (dev/test only, NOT Solr) listening: solr_url = {_url(server)}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
