"""radon's raw counts (``radon raw -j``) of a source, without radon's retries on long statements.

:func:`radon.raw.analyze` walks the stripped lines of a source and tokenizes each one on its
own; when a line does not tokenize alone (an open bracket, a triple-quoted string, a
backslash), it appends the next line and tokenizes the whole buffer again, until the buffer
tokenizes. A statement of n lines costs n tokenizations of 1, 2, ... n lines: on Prefect's
source two thirds of ``analyze``'s time went to buffers that were bound to fail.

:func:`raw_counts` counts exactly as ``analyze`` does (the same loop, radon's own helpers) and
differs in one step only: after a line fails alone, one tokenizer reads the following lines
once, and a buffer is tokenized whole (with radon's ``_generate``, whose tokens are the ones
counted) only when that reading shows the buffer can end there: every bracket closed, no
string open, no backslash continuation and no error token so far. A buffer left out is one
that raises :class:`tokenize.TokenError` or holds an error token for ``analyze`` too, so the
buffer chosen, and every count, is ``analyze``'s.

The reading relies on the pure-Python tokenizer of Python 3.11 (3.12 tokenizes in C, with
other errors); elsewhere :func:`raw_counts` is :func:`radon.raw.analyze`. No Prefect here.
"""

from __future__ import annotations

import sys
import tokenize
from collections.abc import Iterator

from radon.raw import COMMENT, TOKEN_NUMBER, Module, _generate, _logical, analyze, is_single_token

#: Whether the one-pass reading applies (see the module docstring).
ONE_PASS = sys.version_info[:2] == (3, 11)
#: The tokens that end a line outside any statement still open (NL: blank or comment line).
_ENDS = (tokenize.NEWLINE, tokenize.NL)


class _Ended(Exception):
    """The statement's buffer was found (``tokens``), or the source ran out (``tokens`` None)."""

    def __init__(self, tokens: list[tokenize.TokenInfo] | None) -> None:
        super().__init__()
        self.tokens = tokens


def raw_counts(source: str) -> Module:
    """``radon.raw.analyze(source)``: loc, lloc, sloc, comments, multi, blank, single_comments.

    Args:
        source: The decoded text.

    Returns:
        radon's ``Module`` named tuple, equal to ``analyze``'s.

    Raises:
        SyntaxError: ``SyntaxError at line: N``, where and as ``analyze`` raises it (a
            statement still open at the end of the source); any other exception of
            ``analyze`` on this source.
    """
    if not ONE_PASS:
        return analyze(source)
    lloc = comments = single_comments = multi = blank = sloc = 0
    lines = (line.strip() for line in source.splitlines())
    lineno = 1
    for line in lines:
        found = _statement_tokens(line, lines)
        if found is None:
            raise SyntaxError(f"SyntaxError at line: {lineno}")
        tokens, parsed_lines = found
        lineno += len(parsed_lines)
        # From here on, radon.raw.analyze's own loop body.
        comments += sum(1 for t in tokens if TOKEN_NUMBER(t) == COMMENT)
        if is_single_token(COMMENT, tokens):
            single_comments += 1
        elif is_single_token(tokenize.STRING, tokens):
            _, _, (start_row, _), (end_row, _), _ = tokens[0]
            if end_row == start_row:
                single_comments += 1
            else:
                multi += sum(1 for p in parsed_lines if p)
                blank += sum(1 for p in parsed_lines if not p)
        else:
            for parsed_line in parsed_lines:
                if parsed_line:
                    sloc += 1
                else:
                    blank += 1
        lloc += _logical(tokens)
    loc = sloc + blank + multi + single_comments
    return Module(loc, lloc, sloc, comments, multi, blank, single_comments)


def _tokenizes(buffer: str) -> list[tokenize.TokenInfo] | None:
    """radon's tokens of a buffer, or None where ``analyze`` would add a line to it."""
    try:
        tokens = _generate(buffer)
    except tokenize.TokenError:
        return None
    if any(t[0] == tokenize.ERRORTOKEN for t in tokens):
        return None
    return tokens


def _statement_tokens(
    line: str, lines: Iterator[str]
) -> tuple[list[tokenize.TokenInfo], list[str]] | None:
    """``radon.raw._get_all_tokens(line, lines)``: the shortest buffer from ``line`` on that
    tokenizes, its tokens and its lines; None when ``lines`` runs out first.

    Takes from ``lines`` exactly the lines ``_get_all_tokens`` takes.
    """
    tokens = _tokenizes(line)
    if tokens is not None:  # most lines: a statement of its own
        return tokens, [line]
    used = [line]
    depth = 0  # the tokenizer's `parenlev`: ([{ opened minus )]} closed
    last = (-1, 0)  # type and row of the last token read
    error = False
    asked = 0

    def readline() -> str:
        nonlocal asked
        asked += 1
        if asked > 1:  # lines 1..n are read and their tokens seen; line n + 1 is wanted
            n = len(used)
            if n > 1 and not error and depth == 0 and last[1] == n and last[0] in _ENDS:
                found = _tokenizes("\n".join(used))
                if found is not None:
                    raise _Ended(found)
            try:
                used.append(next(lines))
            except StopIteration:
                raise _Ended(None) from None
        return used[-1] + "\n"

    try:
        for token in tokenize.generate_tokens(readline):
            kind = token.type
            if kind == tokenize.ERRORTOKEN:
                error = True  # in every longer buffer too: none of them can tokenize
            elif kind == tokenize.OP and token.string in "([{":
                depth += 1
            elif kind == tokenize.OP and token.string in ")]}":
                depth -= 1
            last = (kind, token.start[0])
    except _Ended as ended:
        return None if ended.tokens is None else (ended.tokens, used)
    # readline never returns "": the tokenizer cannot reach the end of its input.
    raise AssertionError("unreachable")  # pragma: no cover
