"""radon's raw counts without its retries: equal to `radon.raw.analyze` on every source."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from helpers import ROOT
from radon.raw import analyze

from neo_automation.scans import raw
from neo_automation.scans.quality import decode_source
from neo_automation.scans.raw import raw_counts

#: Sources whose statements span lines in every way the tokenizer knows, and broken ones.
CASES = {
    "plain": "x = 1\ny = 2  # two\n\n# alone\n",
    "brackets": "f(1,\n  2,\n\n  # inside\n  3)\nz = [\n]\n",
    "nested": "a = {'k': (1,\n [2,\n 3]),\n}\nb = 1; c = 2\nif a: b = 3\n",
    "docstrings": 'def f():\n    """One.\n\n    Two.\n    """\n    """x"""\n    return 1\n',
    "single_quoted_continued": "s = 'abc\\\ndef'\nt = 1\n",
    "backslash": "x = 1 + \\\n    2\ny = \\\n\\\n3\n",
    "string_then_paren": "x = '''a\n(b\n''' + (1 +\n2)\n",
    "colon_lines": "for i in (1,\n 2): pass\ntry: x = (1,\n2)\nexcept E: pass\n",
    "comment_after_open": "x = (  # why\n 1)\n",
    "error_token_in_statement": "x = (1 $\n, 2)\ny = 3\n",
    "error_token_alone": "x = 1 ?\ny = 2\n",
    "unterminated_single_quote": "x = 'abc\ny = 2\n",
    "never_closed_paren": "x = (1,\n2\n",
    "never_closed_string": 'x = """abc\ndef\n',
    "trailing_backslash": "x = 1 + \\",
    "extra_closing": "x = 1)\ny = (2\n)\n",
    "no_final_newline": "def f(a,\n      b): return a",
    "blank_lines_in_string": 'x = """\n\n  a\n\n"""\n',
    "crlf": "x = (1,\r\n2)\r\ny = 3\r\n",
    "tabs_and_formfeed": "if x:\n\tf(1,\n\t\t2)\n\x0c\ny = 1\n",
    "fstring": "x = f'{a}' + f\"\"\"{b\n}\"\"\"\ny = (f'{c}'\n)\n",
    "decorator": "@dec(\n  1)\nclass A: x = 1; y = (2,\n 3)\n",
    "empty": "",
}


def outcome(function, source: str) -> object:
    """The counts, or the exception's type and message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(source)
    except Exception as exc:  # compared as data: both sides must fail alike
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("name", sorted(CASES))
def test_equal_to_radon_on_crafted_sources(name: str) -> None:
    source = CASES[name]
    assert outcome(raw_counts, source) == outcome(analyze, source)


def test_equal_to_radon_on_the_core_and_the_sample_projects() -> None:
    texts = {}
    for path in sorted((ROOT / "neo_automation").rglob("*.py")) + sorted(
            (ROOT / "tests" / "samples").rglob("*.py")):
        try:
            texts[path] = decode_source(path.read_bytes())
        except UnicodeDecodeError:  # a sample radon cannot read either
            continue
    assert len(texts) > 100
    differ = [p for p, t in texts.items() if outcome(raw_counts, t) != outcome(analyze, t)]
    assert differ == []


def test_the_open_statement_at_the_end_is_radons_syntax_error() -> None:
    assert outcome(raw_counts, "a = 1\nb = (2,\n3\n") == ("SyntaxError",
                                                            "SyntaxError at line: 2")


def test_it_is_radon_itself_off_python_3_11(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(raw, "ONE_PASS", False)
    monkeypatch.setattr(raw, "analyze", lambda source: calls.append(source) or "radon's")
    assert raw_counts("x = 1\n") == "radon's"
    assert calls == ["x = 1\n"]


def test_long_statements_tokenize_once_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 300-line call: radon tokenizes buffers of 1..300 lines (45,150 line reads); the one
    # pass reads each line once, plus radon's own tokenization of the buffer it counts.
    source = "f(\n" + "".join(f"  {i},\n" for i in range(298)) + ")\n"
    reads = 0
    generate = raw._generate

    def counting(code: str) -> list:
        nonlocal reads
        reads += code.count("\n") + 1
        return generate(code)

    monkeypatch.setattr(raw, "_generate", counting)
    assert raw_counts(source) == analyze(source)
    assert reads <= 2 * 300


def test_module_is_used_by_the_quality_scan() -> None:
    from neo_automation.scans import quality

    assert Path(quality.__file__).parent == Path(raw.__file__).parent
    assert quality.raw_counts is raw_counts
