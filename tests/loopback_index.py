"""A small package index on loopback for the dependency tests (imported as `loopback_index`).

A PEP 503/691 simple repository served over HTTP on 127.0.0.1 with PEP 700 upload times,
standing in for PyPI: pip queries it exactly as it would query PyPI, so the tests need no
network. Also the sample project (old pins in a pip-compile lock file) and the environment
settings that keep pip on this index and the vulnerability service out of reach.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

#: project -> [(version, upload time)]
PACKAGES = {
    "alpha-lib": [("1.0.0", "2021-03-01T10:00:00Z"), ("1.4.0", "2022-06-01T10:00:00Z"),
                  ("2.1.0", "2024-01-15T10:00:00Z"), ("3.0.0b1", "2024-05-01T10:00:00Z")],
    "beta-tool": [("0.9", "2020-01-01T00:00:00Z"), ("1.0", "2023-02-02T00:00:00Z")],
    "current-pkg": [("5.0", "2024-02-02T00:00:00Z")],
}

#: What pip-audit says when its service cannot be reached, or when it is missing.
UNAVAILABLE = ("pip-audit is not installed in the automation environment",
               "pip-audit could not query its service")


class _Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = [p for p in self.path.split("/") if p]
        if len(parts) != 2 or parts[0] != "simple" or parts[1] not in PACKAGES:
            self.send_response(404)
            self.end_headers()
            return
        name = parts[1]
        files = [
            {
                "filename": f"{name.replace('-', '_')}-{version}-py3-none-any.whl",
                "url": f"/files/{name.replace('-', '_')}-{version}-py3-none-any.whl",
                "hashes": {},
                "upload-time": stamp,
            }
            for version, stamp in PACKAGES[name]
        ]
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files,
                               "versions": [v for v, _ in PACKAGES[name]]}).encode()
            ctype = "application/vnd.pypi.simple.v1+json"
        else:
            links = "".join(f'<a href="{f["url"]}">{f["filename"]}</a>\n' for f in files)
            body = f"<!DOCTYPE html><html><body>{links}</body></html>".encode()
            ctype = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve_index() -> Iterator[str]:
    """Serve :data:`PACKAGES` on a free loopback port; yields the simple index URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


def only_the_loopback_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pip configuration files, mirrors or find-links of this host: only the test's index."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)


def no_internet(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Every request beyond loopback goes to a closed port, as on a machine without internet."""
    dead = f"http://127.0.0.1:{port}"
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, dead)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def write_sample_project(project: Path) -> Path:
    """A project pinning old versions in `requirements/main.lock` (pip-compile style)."""
    (project / "requirements").mkdir(parents=True)
    (project / "requirements" / "main.lock").write_text(
        "# pinned by pip-compile\n"
        "alpha-lib==1.4.0 \\\n    --hash=sha256:abc\n"
        "    # via -r requirements.in\n"
        "Beta_Tool==0.9 ; python_version >= '3.8'\n"
        "current-pkg==5.0\n"
        "missing-package==1.0\n"
        "-e .\n"
        "unpinned>=2\n"
    )
    return project
