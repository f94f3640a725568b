"""IAM's wildcards (`*` any run of characters, `?` one character) for the whole engine: Action, NotAction, Resource,
NotResource, StringLike, ArnLike and the who-can inputs all match through `compile_pieces`.

Every pattern decides in time linear in len(pattern) x len(text) at worst, whatever it holds: a policy is user
input (an uploaded snapshot), and a backtracking regex such as `.*a.*a.*a.*b` takes exponential time on "aaaa...".

ARN patterns (`segmented`) follow IAM's rule ("IAM JSON policy elements: Resource", AWS IAM User Guide): "You can
use wildcard characters (* and ?) within the individual segments of an ARN (the parts separated by colons)... If
the * wildcard is the last character of a resource ARN segment, it can expand to match beyond the colon
boundaries." So in the first five segments (arn, partition, service, region, account) a `?`, or a `*` followed by
more of its segment, never matches a colon, while a `*` that ends its segment (followed by ":" or by the end of the
pattern) matches anything: `arn:aws:sqs:us-east-1:*` matches every queue of the region. The resource part (after
the fifth colon) is one segment in which both wildcards match anything, "/" and ":" included.

Matching is case-sensitive; callers that compare without case (actions) lowercase both sides first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

Piece = tuple[str, bool]  # (text, literal): literal text never acts as a wildcard (resolved policy variables)
_ARN_PREFIX_SEGMENTS = 5  # arn, partition, service, region, account


class Matcher(Protocol):
    def matches(self, text: str) -> bool: ...


class _Token:
    """One pattern element: a literal character, `?` (one character) or `*` (a run); `crosses` says whether the
    wildcard may match a colon."""

    __slots__ = ("char", "crosses", "kind")

    def __init__(self, kind: str, char: str = "", crosses: bool = True) -> None:
        self.kind = kind  # "lit", "one" or "star"
        self.char = char
        self.crosses = crosses


def _tokens(pieces: Iterable[Piece], segmented: bool) -> list[_Token]:
    raw: list[_Token] = []
    colons = 0
    for text, literal in pieces:
        for char in text:
            inside = segmented and colons < _ARN_PREFIX_SEGMENTS
            if char == ":":
                colons += 1
            if literal or char not in "*?":
                raw.append(_Token("lit", char))
            else:
                raw.append(_Token("star" if char == "*" else "one", crosses=not inside))
    # A run of stars is one star; inside the first five segments it may cross colons only when it ends its segment.
    out: list[_Token] = []
    for index, token in enumerate(raw):
        if token.kind == "star":
            if out and out[-1].kind == "star":
                continue
            after = next((t for t in raw[index:] if t.kind != "star"), None)
            ends_segment = after is None or (after.kind == "lit" and after.char == ":")
            token.crosses = token.crosses or ends_segment
        out.append(token)
    return out


class _Chunk:
    """A star-free stretch of the pattern: fixed width, so finding it costs at most len(chunk) x len(text)."""

    __slots__ = ("plain", "regex", "width")

    def __init__(self, tokens: list[_Token]) -> None:
        self.width = len(tokens)
        if all(t.kind == "lit" for t in tokens):
            self.plain: str | None = "".join(t.char for t in tokens)
            self.regex: re.Pattern[str] | None = None
        else:
            self.plain = None
            parts = [re.escape(t.char) if t.kind == "lit" else "." if t.crosses else "[^:]" for t in tokens]
            self.regex = re.compile("".join(parts), re.DOTALL)

    def at(self, text: str, pos: int) -> bool:
        if self.plain is not None:
            return text.startswith(self.plain, pos)
        assert self.regex is not None
        return pos + self.width <= len(text) and self.regex.match(text, pos) is not None

    def find(self, text: str, start: int, end: int) -> int:
        """The leftmost start of this chunk lying wholly inside text[start:end], or -1."""
        if self.plain is not None:
            return text.find(self.plain, start, end)
        assert self.regex is not None
        found = self.regex.search(text, start, end)
        return found.start() if found else -1


def _chunks(tokens: list[_Token]) -> list[_Chunk]:
    """The star-free chunks around the stars: one more than there are stars."""
    chunks: list[_Chunk] = []
    current: list[_Token] = []
    for token in tokens:
        if token.kind == "star":
            chunks.append(_Chunk(current))
            current = []
        else:
            current.append(token)
    chunks.append(_Chunk(current))
    return chunks


class _Fixed:
    """No star: a fixed-width pattern."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.chunk = _Chunk(tokens)

    def matches(self, text: str) -> bool:
        if self.chunk.plain is not None:
            return text == self.chunk.plain
        return len(text) == self.chunk.width and self.chunk.at(text, 0)


class _OneStar:
    """prefix * suffix: both ends checked in place, the middle only for colons when the star may not cross one."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.prefix, self.suffix = _chunks(tokens)
        self.crosses = next(t for t in tokens if t.kind == "star").crosses

    def matches(self, text: str) -> bool:
        start, end = self.prefix.width, len(text) - self.suffix.width
        if end < start or not self.prefix.at(text, 0) or not self.suffix.at(text, end):
            return False
        return self.crosses or text.find(":", start, end) < 0


class _GreedyStars:
    """Stars that all match anything: each middle chunk at its leftmost place after the previous one. Leftmost is
    never worse, since whatever follows a chunk only gains room when the chunk ends earlier."""

    def __init__(self, tokens: list[_Token]) -> None:
        chunks = _chunks(tokens)
        self.first, self.middle, self.last = chunks[0], chunks[1:-1], chunks[-1]
        self.min_width = sum(c.width for c in chunks)

    def matches(self, text: str) -> bool:
        if len(text) < self.min_width:
            return False
        pos, end = self.first.width, len(text) - self.last.width
        if not self.first.at(text, 0) or not self.last.at(text, end):
            return False
        for chunk in self.middle:
            found = chunk.find(text, pos, end)
            if found < 0:
                return False
            pos = found + chunk.width
        return True


class _BitNfa:
    """Stars of both kinds: a Thompson NFA whose state set is one int (bit i: the first i tokens are matched),
    stepped once per character of the text, so len(text) steps over len(pattern)-bit numbers."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.accept = 1 << len(tokens)
        by_char: dict[str, int] = {}
        one_any = one_segment = star_any = star_segment = 0
        for i, token in enumerate(tokens):
            bit = 1 << i
            if token.kind == "lit":
                by_char[token.char] = by_char.get(token.char, 0) | bit
            elif token.kind == "one":
                if token.crosses:
                    one_any |= bit
                else:
                    one_segment |= bit
            elif token.crosses:
                star_any |= bit
            else:
                star_segment |= bit
        self.stars = star_any | star_segment
        # (advance, stay) masks per character: a colon neither advances `?` nor stays in a star inside a segment.
        self.default = (one_any | one_segment, self.stars)
        self.steps = {char: (bits | one_any | one_segment, self.stars) for char, bits in by_char.items()}
        self.steps[":"] = (by_char.get(":", 0) | one_any, star_any)
        self.start = self._close(1)

    def _close(self, state: int) -> int:
        # A star may match nothing. Runs of stars were merged, so one shift reaches every state.
        return state | ((state & self.stars) << 1)

    def matches(self, text: str) -> bool:
        state, steps, default, stars = self.start, self.steps, self.default, self.stars
        for char in text:
            advance, stay = steps.get(char, default)
            state = ((state & advance) << 1) | (state & stay)
            state |= (state & stars) << 1
            if not state:
                return False
        return bool(state & self.accept)


@lru_cache(maxsize=32768)
def compile_pieces(pieces: tuple[Piece, ...], segmented: bool) -> Matcher:
    """The matcher for a pattern given as pieces; `segmented` applies IAM's ARN segment rule (module docstring)."""
    tokens = _tokens(pieces, segmented)
    stars = [t for t in tokens if t.kind == "star"]
    if not stars:
        return _Fixed(tokens)
    if len(stars) == 1:
        return _OneStar(tokens)
    if all(t.crosses for t in stars):
        return _GreedyStars(tokens)
    return _BitNfa(tokens)


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def matches(pattern: str, text: str, *, segmented: bool = False) -> bool:
    """Does a pattern (wildcards `*` and `?`) match the whole text?"""
    if not has_wildcard(pattern):
        return pattern == text
    return compile_pieces(((pattern, False),), segmented).matches(text)
