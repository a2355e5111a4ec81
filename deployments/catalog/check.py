"""Which catalog the CLI acts on, and whether it was validated as it is now, without Prefect.

Validating `prefect.yaml` uses Prefect's schedule and trigger classes, and importing Prefect
costs 1 to 3 s, which `automation health` cannot pay on every call. Every full validation
(`serve` when it starts, `automation start`, and `health` when nothing matches) stores its
verdict in `<data dir>/run/catalog-check.json` under a fingerprint of exactly what it depends
on: the catalog's bytes, each entrypoint file's size and modification time, and Prefect's
version. `health` reuses the verdict only while the fingerprint is equal, so a hand edit of the
catalog or a flow file is validated afresh, never answered from a stale verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text

if TYPE_CHECKING:
    from neo_automation.settings import Settings

_ENTRYPOINT = re.compile(r"^\s*(?:-\s+)?entrypoint:\s*[\"']?([^\"'\s#]+?):\w+", re.M)


def catalog_source() -> tuple[Path, str]:
    """The catalog file and why it is that one, in words (the CLI says so before editing).

    The root is `AUTOMATION_ROOT`, else the checkout holding the working directory, else the
    installed checkout (`Settings.root`); `AUTOMATION_CATALOG` names a file outright.
    """
    override = os.environ.get("AUTOMATION_CATALOG")
    if override:
        return Path(override).expanduser().resolve(), "AUTOMATION_CATALOG"
    from neo_automation.settings import load_settings  # pydantic-settings: when needed

    root = load_settings().root
    if os.environ.get("AUTOMATION_ROOT"):
        why = "AUTOMATION_ROOT"
    elif Path.cwd().resolve().is_relative_to(root):
        why = "the checkout you are in"
    else:
        why = ("the installed checkout: no checkout holds the working directory; cd into "
               "one or set AUTOMATION_ROOT to change another")
    return root / "prefect.yaml", why


def catalog_path() -> Path:
    """The catalog file: `AUTOMATION_CATALOG` if set, else `prefect.yaml` in the project root."""
    return catalog_source()[0]


def fingerprint(path: Path) -> str | None:
    """A digest of what validating `path` depends on; None when the file cannot be read."""
    try:
        text = path.read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(text)
    for file_part in sorted(set(_ENTRYPOINT.findall(text.decode("utf-8", "replace")))):
        try:
            st = (path.parent / file_part).stat()
            digest.update(f"\0{file_part}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"\0{file_part}\0missing".encode())
    try:
        digest.update(f"\0prefect {version('prefect')}".encode())
    except PackageNotFoundError:
        digest.update(b"\0prefect missing")
    return digest.hexdigest()


def check_file(settings: Settings) -> Path:
    """`<data dir>/run/catalog-check.json`: the last full validation's verdict."""
    return settings.data_path / "run" / "catalog-check.json"


def stored_verdict(settings: Settings, path: Path) -> dict[str, Any] | None:
    """The stored verdict for the catalog as it is now; None when there is none that matches.

    Returns:
        `{"path", "fingerprint", "entries": N, "problems": {name: message}}`.
    """
    current = fingerprint(path)
    try:
        verdict = json.loads(check_file(settings).read_text())
    except (OSError, ValueError):
        return None
    if current is None or verdict.get("fingerprint") != current or verdict.get("path") != str(
        path
    ):
        return None
    return dict(verdict)


def store_verdict(settings: Settings, path: Path, digest: str | None, entries: int,
                  problems: dict[str, str]) -> None:
    """Record a full validation of `path`; best effort (a read-only data dir stores nothing).

    Args:
        settings: where the data dir is.
        path: the catalog validated.
        digest: its `fingerprint`, taken before it was read (a file changed meanwhile then
            does not match, and is validated again).
        entries: how many valid jobs it has.
        problems: the broken ones, name to one-line message.
    """
    if digest is None:
        return
    try:
        atomic_write_text(check_file(settings), json.dumps({
            "path": str(path), "fingerprint": digest, "entries": entries,
            "problems": problems,
        }, indent=2), parents=True)
    except ConfigError:
        pass  # the next health validates again; nothing is wrong with the stack
