"""Security findings of Python sources with bandit used as a library, matching bandit's CLI.

Configuration is read from the scanned project's root the way a user runs bandit there:

* ``pyproject.toml`` with a ``[tool.bandit]`` table is used as ``bandit -c pyproject.toml``
  would use it (``skips``, ``tests``, ``exclude_dirs``, ``include``, per-plugin options such as
  ``[tool.bandit.assert_used]``). Note that ``bandit -r`` alone never reads pyproject.toml;
  projects that configure bandit there run it with ``-c pyproject.toml``, and so do we.
* A ``.bandit`` INI file at the root (section ``[bandit]``: ``skips``, ``tests``, ``exclude``,
  ``configfile``) is honoured as ``bandit -r`` discovers it (bandit also finds one deeper in
  the tree; only the root's is read here).
* ``# nosec`` and ``# nosec B602, B607`` comments are honoured by bandit itself.

Paths are matched and reported the way ``bandit -r .`` run from the project root sees them
(``./pkg/mod.py``), so ``exclude_dirs`` patterns, the default excludes (``.svn``, ``CVS``,
``.git``, ``__pycache__``, ...: bandit matches them as globs *and* as substrings of the path)
and plugin options that match file names behave as on the command line.

One :class:`SecurityScanner` holds one ``BanditManager`` and is fed file contents already in
memory; per file it returns the findings and the per-file metrics bandit aggregates into
``metrics._totals`` of ``bandit -f json`` (a file bandit cannot parse still counts its lines,
as on the command line). :func:`summarise_security` adds those up. Only the scanner imports
bandit, so :func:`load_bandit_settings` and the totals stay cheap in the parent process.
"""

from __future__ import annotations

import ast
import codecs
import configparser
import fnmatch
import functools
import hashlib
import io
import logging
import os
import re
import tokenize
import tomllib
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from neo_automation.errors import ConfigError

LOG = logging.getLogger(__name__)
RANKING = ("UNDEFINED", "LOW", "MEDIUM", "HIGH")
#: The keys of bandit's ``metrics._totals``, in a stable order.
TOTAL_KEYS = (
    "SEVERITY.HIGH",
    "SEVERITY.MEDIUM",
    "SEVERITY.LOW",
    "SEVERITY.UNDEFINED",
    "CONFIDENCE.HIGH",
    "CONFIDENCE.MEDIUM",
    "CONFIDENCE.LOW",
    "CONFIDENCE.UNDEFINED",
    "loc",
    "nosec",
    "skipped_tests",
)
#: bandit's default ``--exclude`` (``bandit.core.constants.EXCLUDE``).
DEFAULT_EXCLUDE = (".svn", "CVS", ".bzr", ".hg", ".git", "__pycache__", ".tox", ".eggs", "*.egg")


@dataclass(frozen=True)
class BanditSettings:
    """What bandit's CLI would derive from a project root; picklable for worker processes."""

    root: str
    config_file: str | None
    ini_tests: tuple[str, ...]
    ini_skips: tuple[str, ...]
    include_globs: tuple[str, ...]
    exclude_globs: tuple[str, ...]
    fingerprint: str


def load_bandit_settings(root: str | os.PathLike[str]) -> BanditSettings:
    """Read bandit's configuration of a project as its CLI would when run at the root.

    Args:
        root: The project directory.

    Returns:
        The settings; ``fingerprint`` changes whenever the bandit version or a config file
        changes, so cached results are only reused under the same rules.

    Raises:
        ConfigError: pyproject.toml is not valid TOML, ``.bandit`` names a missing config
            file, or a test is both selected and skipped.
    """
    base = Path(root)
    digest = hashlib.sha256(f"bandit={version('bandit')}".encode())
    config_file: str | None = None
    table: Mapping[str, Any] = {}
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        tool = _load_toml(pyproject).get("tool", {})
        if isinstance(tool.get("bandit"), dict):
            config_file, table = str(pyproject), tool["bandit"]
            digest.update(b"pyproject\0" + pyproject.read_bytes())
    ini = _read_ini(base / ".bandit")
    if ini:
        digest.update(b"ini\0" + repr(sorted(ini.items())).encode())
        if config_file is None and ini.get("configfile"):
            config_path = base / ini["configfile"]
            if not config_path.is_file():
                raise ConfigError(f"{base / '.bandit'} names configfile {config_path}: not found")
            config_file = str(config_path)
            digest.update(b"configfile\0" + config_path.read_bytes())
            table = _load_config_file(config_path)
    ini_tests, ini_skips = _split(ini.get("tests")), _split(ini.get("skips"))
    both = sorted(
        (set(_split(table.get("tests"))) | set(ini_tests))
        & (set(_split(table.get("skips"))) | set(ini_skips))
    )
    if both:
        raise ConfigError(f"bandit config both selects and skips {', '.join(both)}")
    if config_file is None:
        include = ("*.py", "*.pyw")
    else:
        include = tuple(table.get("include") or ("*.py",))
    excluded = list(table.get("exclude_dirs") or ())
    for path in (ini.get("exclude") or ",".join(DEFAULT_EXCLUDE)).split(","):
        # bandit turns a directory given to --exclude into "dir/*" (relative to the cwd).
        excluded.append(os.path.join(path, "*") if (base / path).is_dir() else path)
    return BanditSettings(
        root=str(base),
        config_file=config_file,
        ini_tests=ini_tests,
        ini_skips=ini_skips,
        include_globs=include,
        exclude_globs=tuple(excluded),
        fingerprint=digest.hexdigest(),
    )


def _load_config_file(path: Path) -> Mapping[str, Any]:
    """A bandit config file's options: TOML's ``[tool.bandit]`` or the YAML document."""
    if path.suffix == ".toml":
        return _load_toml(path).get("tool", {}).get("bandit", {})
    # Imported here: only the rare YAML config file needs it (bandit's own dependency).
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return loaded if isinstance(loaded, dict) else {}


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _read_ini(path: Path) -> dict[str, str]:
    """The ``[bandit]`` section of an INI file, or ``{}`` (bandit ignores a bad one too)."""
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
        return dict(parser.items("bandit"))
    except (configparser.Error, KeyError, TypeError):
        return {}


def _split(value: Any) -> tuple[str, ...]:
    """A bandit test list: comma-separated text (INI) or a TOML list (used as bandit does)."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(value.split(","))
    return tuple(value)


def bandit_path(relpath: str) -> str:
    """The name ``bandit -r .`` run at the root gives a file.

    Args:
        relpath: The file's POSIX path relative to the root.

    Returns:
        ``./`` and the path with the platform's separators, as ``os.walk(".")`` yields it.
    """
    return os.path.join(".", *relpath.split("/"))


def bandit_includes(settings: BanditSettings, relpath: str) -> bool:
    """Whether ``bandit -r .`` at the root would scan the file (bandit's include/exclude rules).

    Args:
        settings: From :func:`load_bandit_settings`.
        relpath: The file's POSIX path relative to the root.

    Returns:
        True when the file matches an include glob and no exclude glob or substring.
    """
    path = bandit_path(relpath)
    if _globs(settings.include_globs)(path) is None:
        return False
    return _globs(settings.exclude_globs)(path) is None and not any(
        glob in path for glob in settings.exclude_globs
    )


@functools.lru_cache(maxsize=16)
def _globs(globs: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """One matcher for several globs, with :func:`fnmatch.fnmatch`'s semantics (POSIX)."""
    if not globs:
        return lambda _path: None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)).match


class SecurityScanner:
    """One bandit manager, configured once, that scans file contents handed to it."""

    def __init__(self, settings: BanditSettings) -> None:
        """Build the manager from the settings.

        Args:
            settings: From :func:`load_bandit_settings`.

        Raises:
            ConfigError: bandit rejects the config file or the selection runs no tests.
        """
        b = _import_bandit()
        try:
            conf = b.config.BanditConfig(config_file=settings.config_file)
        except b.utils.ConfigError as exc:
            raise ConfigError(f"bandit config {settings.config_file}: {exc}") from None
        # As bandit's CLI builds it: the config file's lists, then the .bandit INI's.
        profile = {
            "include": set(conf.get_option("tests") or []) | set(settings.ini_tests),
            "exclude": set(conf.get_option("skips") or []) | set(settings.ini_skips),
        }
        try:
            b.extension_loader.MANAGER.validate_profile(profile)
        except ValueError as exc:
            raise ConfigError(f"bandit profile: {exc}") from None
        self._b = b
        self._manager = b.manager.BanditManager(conf, "file", profile=profile)
        if not self._manager.b_ts.tests:
            raise ConfigError("bandit config selects no tests: nothing would be checked")

    def scan(self, relpath: str, data: bytes, tree: ast.Module | None = None) -> dict[str, Any]:
        """Scan one file's contents as ``bandit -r .`` scans it.

        The steps are those of ``BanditManager._parse_file`` (bandit 1.9.4, pinned), which
        would open the file again: count the lines, read the ``# nosec`` comments, parse,
        visit, run the file-level tests, count the issues. Two steps are skipped when their
        outcome is known: the comment scan of a plain UTF-8 file without the word ``nosec``
        (every comment would map to "no nosec"), and bandit's own parse when ``tree`` was
        parsed from the same text (a plain UTF-8 file: no BOM, no coding cookie, no CR, no
        NUL, for which ``ast.parse`` of the text and of the bytes agree).

        Args:
            relpath: The file's POSIX path relative to the root (used in findings and for
                plugin options that match file names).
            data: The file's bytes.
            tree: The module parsed from ``data`` decoded as UTF-8, if the caller has it;
                bandit adds attributes to its nodes.

        Returns:
            ``{"metrics": {TOTAL_KEYS...}, "issues": [...], "skipped": reason | None}``; each
            issue has ``test_id``, ``test_name``, ``severity``, ``confidence``, ``cwe``,
            ``file``, ``line``, ``line_range``, ``col_offset``, ``end_col_offset``, ``text``
            and ``more_info``; issues are the ones ``bandit -f json`` lists (severity and
            confidence at least LOW), the metrics count every issue, as bandit's do.
        """
        b = self._b
        fname = bandit_path(relpath)
        metrics = b.metrics.Metrics()
        metrics.begin(fname)
        metrics.count_locs(data.splitlines())
        results: list[Any] = []
        skipped = None
        try:
            results = self._visit(fname, data, tree, metrics)
        except SyntaxError:
            skipped = "syntax error while parsing AST from file"
        except Exception as exc:  # bandit skips a file on any exception, and so do we
            LOG.debug("bandit failed on %s: %r", fname, exc)
            skipped = "exception while scanning file"
        finally:
            # BanditMetaAst keeps every node of every file in a class-level dict: a
            # long-lived manager would hold every tree it ever saw.
            b.meta_ast.BanditMetaAst.nodes.clear()
        counts = metrics.data[fname]
        return {
            "metrics": {key: counts.get(key, 0) for key in TOTAL_KEYS},
            "issues": [self._issue(relpath, i) for i in results if i.filter("LOW", "LOW")],
            "skipped": skipped,
        }

    def _visit(self, fname: str, data: bytes, tree: ast.Module | None, metrics: Any) -> list:
        """Bandit's node visitor and file-level tests over one file; returns its issues."""
        b, mgr = self._b, self._manager
        plain = _plain_utf8(data)
        fdata = io.BytesIO(data)
        fdata.seek(0, io.SEEK_END)  # where bandit's own reading leaves it
        nosec_lines = {} if plain and b"nosec" not in data else _nosec_lines(b, fdata)
        visitor = b.node_visitor.BanditNodeVisitor(
            fname, fdata, mgr.b_ma, mgr.b_ts, False, nosec_lines, metrics
        )
        if tree is None or not plain:
            tree = ast.parse(data)
        visitor.generic_visit(tree)
        # What BanditNodeVisitor.process does after parsing: the file-level tests.
        visitor.context = {
            "file_data": fdata,
            "filename": fname,
            "lineno": 0,
            "linerange": [0, 1],
            "col_offset": 0,
        }
        visitor.update_scores(visitor.tester.run_tests(visitor.context, "File"))
        metrics.count_issues([visitor.scores])
        return visitor.tester.results

    def _issue(self, relpath: str, issue: Any) -> dict[str, Any]:
        """A finding as ``bandit -f json`` lists it, with the path relative to the root."""
        return {
            "test_id": issue.test_id,
            "test_name": issue.test,
            "severity": issue.severity,
            "confidence": issue.confidence,
            "cwe": issue.cwe.id,
            "file": relpath,
            "line": issue.lineno,
            "line_range": list(issue.linerange),
            "col_offset": issue.col_offset,
            "end_col_offset": issue.end_col_offset,
            "text": issue.text,
            "more_info": self._b.docs_utils.get_url(issue.test_id),
        }


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


def _plain_utf8(data: bytes) -> bool:
    """UTF-8 without BOM, coding cookie, CR or NUL: its text and bytes parse alike."""
    if data.startswith(codecs.BOM_UTF8) or b"\r" in data or b"\0" in data:
        return False
    if _COOKIE.search(b"\n".join(data.split(b"\n", 2)[:2])):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _nosec_lines(b: _Bandit, fdata: io.BytesIO) -> dict[int, set[str] | None]:
    """Line -> tests a ``# nosec`` comment skips, read as ``BanditManager._parse_file`` does."""
    nosec_lines: dict[int, set[str] | None] = {}
    try:
        fdata.seek(0)
        for toktype, tokval, (lineno, _), _, _ in tokenize.tokenize(fdata.readline):
            if toktype == tokenize.COMMENT:
                nosec_lines[lineno] = b.manager._parse_nosec_comment(tokval)
    except tokenize.TokenError:
        pass
    return nosec_lines


class _Bandit:
    """The bandit modules the scanner uses, imported together."""

    def __init__(self) -> None:
        saved = warnings.formatwarning
        # Imported here, once per process that scans: bandit loads every plugin on import
        # (~0.2 s), which discovery and the totals in the parent process do not need.
        from bandit.core import (
            config,
            docs_utils,
            extension_loader,
            manager,
            meta_ast,
            metrics,
            node_visitor,
            utils,
        )

        # bandit.core.tester replaces warnings.formatwarning process-wide on import.
        warnings.formatwarning = saved
        self.config, self.docs_utils, self.extension_loader = config, docs_utils, extension_loader
        self.manager, self.meta_ast, self.metrics, self.utils = manager, meta_ast, metrics, utils
        self.node_visitor = node_visitor


_BANDIT: _Bandit | None = None


def _import_bandit() -> _Bandit:
    global _BANDIT
    if _BANDIT is None:
        _BANDIT = _Bandit()
    return _BANDIT


def summarise_security(files: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Totals over per-file security results, equal to bandit's ``metrics._totals``.

    Args:
        files: ``{"path", "security": SecurityScanner.scan(...)}`` mappings; entries without
            a ``security`` result are skipped.

    Returns:
        A dict of :data:`TOTAL_KEYS` (plus ``files``, how many files bandit scanned).
    """
    totals = dict.fromkeys(TOTAL_KEYS, 0)
    scanned = 0
    for entry in files:
        result = entry.get("security")
        if result is None:
            continue
        scanned += 1
        for key in TOTAL_KEYS:
            totals[key] += result["metrics"][key]
    return {**totals, "files": scanned}


def worst_security(files: Iterable[Mapping[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The most severe findings, most severe and most confident first, then by path and line.

    Args:
        files: ``{"path", "security"}`` mappings.
        limit: How many findings to keep.

    Returns:
        Finding dicts as :meth:`SecurityScanner.scan` returns them.
    """
    issues = [
        issue
        for entry in files
        if entry.get("security") is not None
        for issue in entry["security"]["issues"]
    ]
    issues.sort(
        key=lambda i: (
            -RANKING.index(i["severity"]),
            -RANKING.index(i["confidence"]),
            i["file"],
            i["line"] or 0,
        )
    )
    return issues[:limit]
