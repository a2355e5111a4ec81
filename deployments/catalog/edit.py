"""Editing the catalog: add or remove one job in `prefect.yaml`, keeping every other byte.

`automation tasks add|remove` call `add_entry` and `remove_entry`. They change only the lines
of the entry concerned, so comments, order and formatting of everything else stay byte for
byte; the new text is validated as a whole (`deployments.catalog.read.validate_document`, the same
check `automation start` makes) before it atomically replaces the file, and on any error the
file is left untouched. Each edit reads, changes and writes the file under an exclusive lock
(`catalog_lock`), so two edits at once both land, or the second names the conflict (the same
job name twice: "already exists").
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import shlex
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from deployments.catalog.fields import POOL, QUEUES
from deployments.catalog.read import CatalogEntry, parse_text, round_trip_yaml, validate_document
from deployments.catalog.schedules import validate_cron
from neo_automation.errors import ConfigError
from neo_automation.files import atomic_write_text

#: The flow that runs a user's command (`automation tasks add`).
COMMAND_ENTRYPOINT = "flows/run_command.py:run_command"
#: Seconds an edit waits for another one to finish before it gives up.
LOCK_TIMEOUT_SECONDS = 30.0
#: Seconds a run-command job gets beyond its command's limit (start-up, artifact, retries' waits).
COMMAND_GRACE_SECONDS = 60


def command_entry(
    name: str,
    command: Sequence[str],
    cron: str | None,
    *,
    description: str = "",
    priority: int = 3,
    timeout_seconds: float = 3600,
    enabled: bool = True,
    timezone: str | None = None,
    cwd: str | None = None,
) -> dict[str, Any]:
    """The catalog entry of a custom job: the run-command flow running `command`.

    Args:
        name: the job's name (lowercase letters, digits, - or _).
        command: the argument list (no shell).
        cron: a 5-field cron expression, or None for a job that only runs on demand.
        description: one line shown in the UI.
        priority: 1 (critical) to 4 (low), the work queue.
        timeout_seconds: the command's time limit; the job's limit adds COMMAND_GRACE_SECONDS.
        enabled: False writes the deployment paused.
        timezone: a zone for the schedule; None follows the catalog's default zone.
        cwd: the command's working directory (default: the target project).

    Returns:
        A plain mapping for `add_entry`.

    Raises:
        ConfigError: a priority, timeout or command that is not accepted.
    """
    if priority not in (1, 2, 3, 4):
        raise ConfigError(f"priority {priority!r} must be 1 (critical), 2, 3 or 4 (low)")
    if isinstance(timeout_seconds, bool) or not timeout_seconds > 0:
        raise ConfigError(f"timeout {timeout_seconds!r} must be a number of seconds above 0")
    if not command or not all(isinstance(a, str) for a in command) or not command[0].strip():
        raise ConfigError("the command is empty: give the program and its arguments")
    queue = QUEUES[priority - 1]
    timeout: int | float
    timeout = float(timeout_seconds)  # assigned apart from the declaration: narrows to float
    if timeout.is_integer():
        timeout = int(timeout)  # 600, not 600.0, in the file
    params: dict[str, Any] = {"command": list(command), "timeout_seconds": timeout}
    if cwd:
        params["cwd"] = cwd
    entry: dict[str, Any] = {
        "name": name,
        "entrypoint": COMMAND_ENTRYPOINT,
        "description": description or f"Custom job: {shlex.join(command)}"[:200],
        "tags": ["custom"],
        "parameters": params,
        "timeout_seconds": timeout + COMMAND_GRACE_SECONDS,
    }
    if cron is not None:
        entry["schedules"] = [{"cron": validate_cron(cron), "timezone": timezone}]
    if not enabled:
        entry["paused"] = True
    entry["work_pool"] = {"name": POOL, "work_queue_name": queue}
    return entry


def add_entry(path: Path, entry: Mapping[str, Any]) -> CatalogEntry:
    """Append a deployment to the catalog file, keeping every other line as it is.

    A schedule whose `timezone` is None aliases the catalog's default zone. The new file is
    validated as a whole before it replaces the old one atomically; the new entry must pass
    every check (its schedule with Prefect's own classes). Entries that were already broken
    (hand edits) do not block the edit: `automation health` and `config --validate` name them.

    Args:
        path: the catalog file.
        entry: a plain mapping (see `command_entry`).

    Returns:
        The validated new entry.

    Raises:
        ConfigError: a duplicate name or any invalid field; the file is left untouched.
    """
    path = Path(path)
    with catalog_lock(path):
        text = _read_text(path)
        doc = parse_text(text, path)
        validate_document(doc, path, skip_broken=True)  # the file must be a catalog at all
        name = entry.get("name")
        if name in _raw_names(doc):
            raise ConfigError(f"a job named {name!r} already exists in {path}; remove it first or "
                              "choose another name")
        lines = text.splitlines(keepends=True)
        seq = doc["deployments"]
        alias = _default_anchor(doc)
        if len(seq):
            dash_col = _dash_col(lines, seq)
            insert_at = _content_end(lines, seq, len(seq) - 1, dash_col) + 1
            block = ["\n", *_render_entry(entry, dash_col, alias)]
        else:
            key_line = doc.lc.key("deployments")[0]
            lines[key_line] = re.sub(r"\s*\[\s*\]\s*$", "\n", lines[key_line])
            dash_col = 2
            insert_at = key_line + 1
            block = _render_entry(entry, dash_col, alias)
        if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
            lines[insert_at - 1] += "\n"
        new_text = "".join(lines[:insert_at] + block + lines[insert_at:])
        new_catalog = validate_document(parse_text(new_text, path), path, skip_broken=True)
        added = new_catalog.get(str(name))  # raises the new entry's own problem, if any
        atomic_write_text(path, new_text)
        return added


def remove_entry(path: Path, name: str) -> str:
    """Remove the deployment `name` (and the comment lines right above it) from the file.

    A broken entry (a hand edit that `serve` leaves out) can be removed too.

    Args:
        path: the catalog file.
        name: the entry's name.

    Returns:
        The name of the entry that was removed.

    Raises:
        ConfigError: an unknown name (listing the known ones); the file is left untouched.
    """
    path = Path(path)
    with catalog_lock(path):
        text = _read_text(path)
        doc = parse_text(text, path)
        validate_document(doc, path, skip_broken=True)  # the file must be a catalog at all
        names = _raw_names(doc)
        if name not in names:
            known = ", ".join(str(n) for n in names if n is not None) or "none"
            raise ConfigError(f"no job named {name!r} in {path} (known jobs: {known})")
        index = names.index(name)
        lines = text.splitlines(keepends=True)
        seq = doc["deployments"]
        dash_col = _dash_col(lines, seq)
        start = seq.lc.item(index)[0]
        while start > 0 and _is_comment(lines[start - 1]) and _indent(lines[start - 1]) >= dash_col:
            start -= 1
        end = _content_end(lines, seq, index, dash_col)
        before = lines[:start]
        after = lines[end + 1:]
        # keep one blank line between the neighbours, none at the top of the list
        while after and not after[0].strip() and (not before or not before[-1].strip()
                                                  or _opens_list(before[-1])):
            after = after[1:]
        if not any(line.strip() for line in after):
            while before and not before[-1].strip():
                before.pop()
            after = []
        if len(seq) == 1:
            key_line = doc.lc.key("deployments")[0]
            before[key_line] = before[key_line].rstrip("\n").rstrip() + " []\n"
        new_text = "".join(before + after)
        validate_document(parse_text(new_text, path), path, skip_broken=True)
        atomic_write_text(path, new_text)
        return name


@contextmanager
def catalog_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the exclusive edit lock of catalog `path` (an `flock` on its folder).

    The file itself cannot carry the lock: every edit replaces it with a new file. Locking the
    folder needs no lock file beside the catalog, and the kernel releases it when the holder
    dies.

    Raises:
        ConfigError: another edit held the lock for `timeout` seconds.
    """
    folder = path.parent
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ConfigError(f"cannot open {folder} to edit {path.name}: "
                          f"{exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConfigError(
                        f"another edit of {path} has been in progress for {timeout:.0f} s; "
                        "try again when it is done") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _raw_names(doc: Any) -> list[Any]:
    """The `name` of every item of `deployments`, valid or not (None when it has none)."""
    return [d.get("name") if isinstance(d, Mapping) else None for d in doc["deployments"]]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start}); save the catalog as UTF-8") from None


def _default_anchor(doc: Any) -> str | None:
    """The anchor name of `definitions.timezone`, if it has one."""
    defs = doc.get("definitions")
    tz = defs.get("timezone") if isinstance(defs, Mapping) else None
    anchor = getattr(tz, "anchor", None)
    return anchor.value if anchor is not None and anchor.value else None


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _opens_list(line: str) -> bool:
    return line.rstrip().endswith("deployments:")


def _dash_col(lines: Sequence[str], seq: Any) -> int:
    first = lines[seq.lc.item(0)[0]]
    return first.index("-")


def _content_end(lines: Sequence[str], seq: Any, index: int, dash_col: int) -> int:
    """The last line of entry `index` (comments and blanks after it belong to what follows)."""
    start = seq.lc.item(index)[0]
    if index + 1 < len(seq):
        stop = seq.lc.item(index + 1)[0]
    else:
        stop = len(lines)
        for i in range(start + 1, len(lines)):
            line = lines[i]
            if not line.strip() or _is_comment(line):
                continue
            ind = _indent(line)
            if ind < dash_col or (ind == dash_col and not line.lstrip().startswith("-")):
                stop = i
                break
    end = start
    for i in range(start, stop):
        line = lines[i]
        if line.strip() and (not _is_comment(line) or _indent(line) > dash_col):
            end = i
    return end


def _render_entry(entry: Mapping[str, Any], dash_col: int, alias: str | None) -> list[str]:
    """The entry as YAML lines of a list item at `dash_col`, in the file's style."""
    marker = "__automation_default_timezone__"

    def convert(key: str, value: Any) -> Any:
        """Plain data as ruamel nodes: short lists in flow style, cron strings quoted."""
        if isinstance(value, Mapping):
            out = CommentedMap()
            for k, v in value.items():
                out[k] = convert(str(k), v)
            return out
        if isinstance(value, (list, tuple)):
            seq = CommentedSeq([convert("", v) for v in value])
            if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
                seq.fa.set_flow_style()
            return seq
        if key == "cron":
            return DoubleQuotedScalarString(value)
        return value

    data = convert("", dict(entry))
    for sched in data.get("schedules") or []:
        if sched.get("timezone") is None:
            if alias is None:
                raise ConfigError(
                    "the catalog has no default zone (definitions.timezone: &timezone ZONE): "
                    "give the schedule an explicit time zone"
                )
            sched["timezone"] = marker
    buf = io.StringIO()
    round_trip_yaml().dump(CommentedSeq([data]), buf)
    lines = buf.getvalue().replace(marker, f"*{alias}").splitlines(keepends=True)
    shift = dash_col - lines[0].index("-")
    if shift >= 0:
        return [" " * shift + line if line.strip() else line for line in lines]
    return [line[-shift:] if line.strip() else line for line in lines]
