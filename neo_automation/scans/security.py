"""Security findings of Python sources with bandit used as a library, matching bandit's CLI.

One :class:`SecurityScanner` holds one ``BanditManager``, configured as ``bandit -r .`` at the
project root configures it (:mod:`neo_automation.scans.bandit_config` reads the config file,
the ``.bandit`` INI and the profile), and is fed file contents already in memory; per file it
returns the findings and the per-file metrics bandit aggregates into ``metrics._totals`` of
``bandit -f json`` (a file bandit cannot parse still counts its lines, as on the command line).
``# nosec`` and ``# nosec B602, B607`` comments are honoured by bandit itself (unless the INI
says ``ignore-nosec``). :func:`summarise_security` adds the per-file figures up.
"""

from __future__ import annotations

import ast
import codecs
import io
import logging
import re
import tokenize
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.scans.bandit_config import BanditSettings, bandit_modules, bandit_path

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


class SecurityScanner:
    """One bandit manager, configured once, that scans file contents handed to it."""

    def __init__(self, settings: BanditSettings) -> None:
        """Build the manager from the settings.

        Args:
            settings: From :func:`neo_automation.scans.bandit_config.load_bandit_settings`.

        Raises:
            ConfigError: bandit rejects the config file or the profile, or the selection runs
                no tests.
        """
        b = bandit_modules()
        try:
            conf = b.config.BanditConfig(config_file=settings.config_file)
            # As bandit's CLI builds it: the config's profile (or tests/skips), then the INI's.
            profile = b.cli_main._get_profile(conf, settings.profile, settings.config_file)
        except (b.utils.ConfigError, b.utils.ProfileNotFound) as exc:
            raise ConfigError(f"bandit config {settings.config_file}: {exc}") from None
        profile["include"].update(settings.ini_tests)
        profile["exclude"].update(settings.ini_skips)
        try:
            b.extension_loader.MANAGER.validate_profile(profile)
        except ValueError as exc:
            raise ConfigError(f"bandit profile: {exc}") from None
        self._b = b
        self._ignore_nosec = settings.ignore_nosec
        self._manager = b.manager.BanditManager(conf, "file", profile=profile)
        if not self._manager.b_ts.tests:
            raise ConfigError("bandit config selects no tests: nothing would be checked")
        self._visitor_class = _skipping_visitor(b, self._manager.b_ts)

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
        if self._ignore_nosec or (plain and b"nosec" not in data):
            nosec_lines: dict[int, set[str] | None] = {}
        else:
            nosec_lines = _nosec_lines(b, fdata)
        visitor = self._visitor_class(
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


def _skipping_visitor(b: SimpleNamespace, testset: Any) -> type:
    """bandit's ``BanditNodeVisitor``, skipping the per-node steps that do nothing for a node.

    For each node, bandit's visitor builds a context (``pre_visit``: line range, offsets),
    runs the tests of the node's type (``visit``) and unwinds (``post_visit``). Most nodes
    (names, attributes, operators, arguments...) have neither tests in the selected set nor a
    ``visit_<type>`` method of bandit's: for them the three steps change nothing that any
    later step reads (the context is rebuilt for the next node, the depth is restored, the
    line-range caches bandit keeps on nodes hold the same values whenever they are filled),
    and they were most of a scan's time. This subclass walks such a node's children directly;
    every other node, and the parent and sibling links bandit's tests read, are handled by
    bandit's own code. Findings and metrics are those of ``BanditNodeVisitor``.
    """
    base = b.node_visitor.BanditNodeVisitor
    active = frozenset(
        {name[len("visit_"):] for name in dir(base) if name.startswith("visit_")}
        | {checktype for checktype, tests in testset.tests.items() if tests}
    )

    class SkippingVisitor(base):  # type: ignore[misc, valid-type]
        def generic_visit(self, node: ast.AST) -> None:
            # bandit's generic_visit, with the steps of an inactive node left out
            for _, value in ast.iter_fields(node):
                if isinstance(value, list):
                    last = len(value) - 1
                    for index, item in enumerate(value):
                        if isinstance(item, ast.AST):
                            self._child(item, node, value[index + 1] if index < last else None)
                elif isinstance(value, ast.AST):
                    self._child(value, node, None)

        def _child(self, item: Any, parent: ast.AST, sibling: ast.AST | None) -> None:
            item._bandit_sibling = sibling
            item._bandit_parent = parent
            if item.__class__.__name__ in active:
                if self.pre_visit(item):
                    self.visit(item)
                    self.generic_visit(item)
                    self.post_visit(item)
            else:
                self.generic_visit(item)

    return SkippingVisitor


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


def _nosec_lines(b: SimpleNamespace, fdata: io.BytesIO) -> dict[int, set[str] | None]:
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
