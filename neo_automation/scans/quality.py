"""Code quality of one Python source with radon used as a library, matching radon's CLI.

Each source is decoded and parsed once; every radon analysis then shares that work:

* ``raw``: the counts ``radon raw -j`` prints (loc, lloc, sloc, comments, multi, blank,
  single_comments), :func:`radon.raw.analyze`'s as :mod:`neo_automation.scans.raw` counts them
  (one tokenizer pass over a multi-line statement instead of radon's one per line);
* ``cc``: one :class:`radon.visitors.ComplexityVisitor` over the parsed tree. Its blocks are
  listed as ``radon cc -s -j`` lists them for the file: functions, classes and methods, each
  once at top level (a class entry also nests its methods, a function entry its closures;
  closures and inner classes are not top-level entries, as with the CLI's default
  ``show_closures = False``), sorted by complexity, highest first;
* ``hal``: :func:`radon.metrics.h_visit_ast` on the same tree, the ``total`` report of
  ``radon hal -j``;
* ``mi``: :func:`radon.metrics.mi_compute` from the pieces above (Halstead volume, the
  visitor's total complexity, lloc, and comments + multi as a percentage of sloc), which is
  what ``radon mi -j`` computes with its CLI default ``multi = True``: the CLI recomputes the
  raw counts, the tree and both visitors for it, this module does not.

The options are the ones radon's CLI finds for itself when run at the project root
(:class:`RadonOptions`, read by :mod:`neo_automation.scans.radon_config` from ``radon.cfg``,
``[tool.radon]`` in pyproject.toml, ``[radon]`` in setup.cfg...): ``no_assert``,
``show_closures`` and ``order`` shape the ``cc`` list, ``cc_min``/``cc_max`` filter it by rank as
``radon cc -j`` does, ``multi`` is the MI's comment rule and ``mi_min``/``mi_max`` leave a file
out of ``radon mi -j`` (its ``mi`` is then ``None``). Without a config they are the CLI's
defaults. A source is decoded as the CLI reads files: UTF-8 (no coding cookie, no BOM
stripping) with universal newlines (the CLI's ``RADONFILESENCODING`` override is not read).

A failing analysis is recorded the way the CLI records it in its JSON (``str(exc)`` of any
exception, per file and per analysis) and the others still run: a file whose tree cannot be
built still gets its raw counts when radon can tokenize it, exactly as ``radon raw`` does.
No Prefect here: worker processes import this module.
"""

from __future__ import annotations

import ast
import heapq
import io
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from radon.complexity import ALPHA, LINES, SCORE, add_inner_blocks, cc_rank, sorted_results
from radon.metrics import h_visit_ast, mi_compute, mi_rank
from radon.visitors import ComplexityVisitor, Function

from neo_automation.scans.raw import raw_counts

RAW_KEYS = ("loc", "lloc", "sloc", "comments", "multi", "blank", "single_comments")
CC_RANKS = ("A", "B", "C", "D", "E", "F")
MI_RANKS = ("A", "B", "C")
#: radon's block orders (``radon.complexity.SCORE``, ``LINES``, ``ALPHA``) by config name.
ORDERS = {"SCORE": SCORE, "LINES": LINES, "ALPHA": ALPHA}


@dataclass(frozen=True)
class RadonOptions:
    """The radon CLI options that change a file's results; the defaults are the CLI's.

    ``order`` is ``SCORE``, ``LINES`` or ``ALPHA``; the ranks are upper-case letters.
    """

    no_assert: bool = False
    show_closures: bool = False
    order: str = "SCORE"
    cc_min: str = "A"
    cc_max: str = "F"
    multi: bool = True
    mi_min: str = "A"
    mi_max: str = "C"


DEFAULT_OPTIONS = RadonOptions()


def decode_source(data: bytes) -> str:
    """Decode file bytes as radon's CLI reads a file: strict UTF-8, universal newlines.

    Args:
        data: The file's bytes.

    Returns:
        The text radon would analyse.

    Raises:
        UnicodeDecodeError: The bytes are not UTF-8 (radon's CLI fails the same way).
    """
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()


def _error_kind(exc: BaseException) -> str:
    """Classify an analysis failure: ``syntax``, ``encoding``, ``binary`` or ``analysis``."""
    if isinstance(exc, UnicodeDecodeError):
        return "encoding"
    if isinstance(exc, SyntaxError):
        return "syntax"
    if isinstance(exc, ValueError) and "null bytes" in str(exc):
        return "binary"
    return "analysis"


def analyse_quality(text: str, options: RadonOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """Raw counts, complexity blocks, Halstead report and maintainability index of a source.

    Args:
        text: The decoded source (see :func:`decode_source`).
        options: radon's options (default: the CLI's).

    Returns:
        ``{"raw", "cc", "hal", "mi", "errors"}``: ``raw`` is the dict of :data:`RAW_KEYS`,
        ``cc`` the list of block dicts as ``radon cc -j`` prints them, ``hal`` the Halstead
        ``total`` report as ``radon hal -j`` prints it, ``mi`` ``{"mi": float, "rank": str}``;
        each is ``None`` when radon could not compute it, and ``errors`` then holds
        ``{"analysis", "kind", "reason"}`` entries (``analysis`` is ``parse`` when the tree
        that cc, hal and mi need could not be built, else ``raw``, ``cc`` or ``hal``;
        ``reason`` is radon's message).
    """
    return analyse_quality_tree(text, options)[0]


def analyse_quality_tree(
    text: str, options: RadonOptions = DEFAULT_OPTIONS
) -> tuple[dict[str, Any], ast.Module | None]:
    """:func:`analyse_quality`, also handing back the parsed tree for other analyses.

    Args:
        text: The decoded source.
        options: radon's options.

    Returns:
        ``(result, tree)``; ``tree`` is ``None`` when the source does not parse. radon's
        visitors do not change the tree, so it can be visited again afterwards.
    """
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {"raw": None, "cc": None, "hal": None, "mi": None, "errors": errors}

    def failed(analysis: str, exc: BaseException) -> None:
        errors.append({"analysis": analysis, "kind": _error_kind(exc), "reason": str(exc)})

    # Parsing arbitrary code warns (invalid escapes...); the CLIs print those warnings, so a
    # caller's `warnings` filter set to "error" must not turn them into failed analyses.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree: ast.Module | None
        try:
            tree = ast.parse(text)
        except Exception as exc:  # radon's CLI records any exception as the file's error
            tree = None
            failed("parse", exc)  # cc, hal and mi all need the tree
        raw = None
        try:
            raw = raw_counts(text)
            out["raw"] = dict(zip(RAW_KEYS, raw, strict=True))
        except Exception as exc:
            failed("raw", exc)
        if tree is None:
            return out, None
        total_complexity = _complexity(tree, options, out, failed)
        try:
            out["hal"] = h_visit_ast(tree).total._asdict()
        except Exception as exc:
            failed("hal", exc)
    # MI needs raw, hal and cc: a failure of one of those is already recorded.
    if raw is not None and out["hal"] is not None and total_complexity is not None:
        multi = raw.multi if options.multi else 0
        comments = (raw.comments + multi) / float(raw.sloc) * 100 if raw.sloc != 0 else 0
        mi = mi_compute(out["hal"]["volume"], total_complexity, raw.lloc, comments)
        rank = mi_rank(mi)
        if options.mi_min <= rank <= options.mi_max:  # else `radon mi -j` leaves it out
            out["mi"] = {"mi": mi, "rank": rank}
    return out, tree


def _complexity(
    tree: ast.Module,
    options: RadonOptions,
    out: dict[str, Any],
    failed: Callable[[str, BaseException], None],
) -> int | None:
    """Fill ``out["cc"]`` as ``radon cc -j`` lists the blocks; returns the MI's complexity.

    ``radon mi`` counts complexity with the visitor's defaults (asserts included) whatever
    ``no_assert`` says, so a second visitor runs only when the options differ.
    """
    try:
        visitor = ComplexityVisitor.from_ast(tree, no_assert=options.no_assert)
        blocks = visitor.blocks
        if options.show_closures:
            blocks = add_inner_blocks(blocks)
        blocks = sorted_results(blocks, order=ORDERS.get(options.order, SCORE))
        listed = (_block_dict(block) for block in blocks)
        out["cc"] = [b for b in listed if options.cc_min <= b["rank"] <= options.cc_max]
        if options.no_assert:
            return int(ComplexityVisitor.from_ast(tree).total_complexity)
        return int(visitor.total_complexity)
    except Exception as exc:
        failed("cc", exc)
        return None


def _block_dict(block: Any) -> dict[str, Any]:
    """A complexity block as radon's ``cc_to_dict`` writes it for ``radon cc -j``."""
    if isinstance(block, Function):
        kind = "method" if block.is_method else "function"
    else:
        kind = "class"
    out: dict[str, Any] = {"type": kind, "rank": cc_rank(block.complexity)}
    for attr in ("name", "lineno", "col_offset", "endline", "classname", "complexity"):
        value = getattr(block, attr, None)
        if value is not None:
            out[attr] = value
    for key in ("methods", "closures"):
        if hasattr(block, key):
            out[key] = [_block_dict(inner) for inner in getattr(block, key)]
    return out


def summarise_quality(files: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over per-file quality results.

    Args:
        files: ``{"path", "quality": analyse_quality(...)}`` mappings; entries without a
            ``quality`` result are skipped.

    Returns:
        The sums of :data:`RAW_KEYS` over files with raw counts (equal to summing
        ``radon raw -j``), ``cc_blocks`` and ``cc_sum`` (count and complexity sum of the
        entries ``radon cc -j`` lists), ``cc_ranks`` (blocks per rank A-F), ``mi_mean`` (mean
        per-file MI, ``None`` without any), ``mi_ranks``, ``hal_volume`` (sum of per-file
        Halstead volumes) and ``files`` (how many files were analysed).
    """
    totals: dict[str, Any] = dict.fromkeys(RAW_KEYS, 0)
    cc_ranks: Counter[str] = Counter()
    mi_ranks: Counter[str] = Counter()
    cc_blocks = cc_sum = analysed = 0
    mi_values: list[float] = []
    hal_volume = 0.0
    for entry in files:
        result = entry.get("quality")
        if result is None:
            continue
        analysed += 1
        if result["raw"] is not None:
            for key in RAW_KEYS:
                totals[key] += result["raw"][key]
        for block in result["cc"] or ():
            cc_blocks += 1
            cc_sum += block["complexity"]
            cc_ranks[block["rank"]] += 1
        if result["mi"] is not None:
            mi_values.append(result["mi"]["mi"])
            mi_ranks[result["mi"]["rank"]] += 1
        if result["hal"] is not None:
            hal_volume += result["hal"]["volume"]
    totals.update(
        cc_blocks=cc_blocks,
        cc_sum=cc_sum,
        cc_ranks={rank: cc_ranks[rank] for rank in CC_RANKS},
        mi_mean=math.fsum(mi_values) / len(mi_values) if mi_values else None,
        mi_ranks={rank: mi_ranks[rank] for rank in MI_RANKS},
        hal_volume=hal_volume,
        files=analysed,
    )
    return totals


def worst_quality(files: Iterable[Mapping[str, Any]], limit: int = 10) -> dict[str, Any]:
    """The most complex blocks and the least maintainable files.

    Args:
        files: ``{"path", "quality"}`` mappings as for :func:`summarise_quality`.
        limit: How many of each to keep.

    Returns:
        ``{"cc_blocks": [...], "mi_files": [...]}``: blocks (``path``, ``name`` — with the
        class for methods —, ``type``, ``lineno``, ``complexity``, ``rank``), most complex
        first; files (``path``, ``mi``, ``rank``), lowest MI first. Ties keep path order.
    """
    blocks: list[dict[str, Any]] = []
    mi_files: list[dict[str, Any]] = []
    for entry in sorted(files, key=lambda e: e["path"]):
        result = entry.get("quality")
        if result is None:
            continue
        for block in result["cc"] or ():
            name = block["name"]
            if block.get("classname"):
                name = f"{block['classname']}.{name}"
            blocks.append(
                {
                    "path": entry["path"],
                    "name": name,
                    "type": block["type"],
                    "lineno": block["lineno"],
                    "complexity": block["complexity"],
                    "rank": block["rank"],
                }
            )
        if result["mi"] is not None:
            mi_files.append({"path": entry["path"], **result["mi"]})
    return {
        "cc_blocks": heapq.nsmallest(limit, blocks, key=lambda b: -b["complexity"]),
        "mi_files": heapq.nsmallest(limit, mi_files, key=lambda f: f["mi"]),
    }
