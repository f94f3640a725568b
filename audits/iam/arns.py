"""ARN parsing and IAM's wildcard matching of ARNs (Resource elements, Arn* condition operators).

IAM compares an ARN pattern with an ARN segment by segment: the first five colon-separated parts (arn, partition,
service, region, account) each match on their own, so a `*` there never spans a colon, while the resource part
(everything after the fifth colon) is one segment in which `*` matches anything, `/` and `:` included. Matching is
case-sensitive. A pattern that does not start with "arn:" ("*", "*/x") is compared as one plain glob; an ARN
pattern with fewer than six parts ("arn:aws:iam::*") then matches only ARNs with as few parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple


class Arn(NamedTuple):
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse(text: str) -> Arn | None:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def account_of(text: str) -> str:
    """The account id in an ARN ("" for ARNs without one, such as S3 buckets, or for non-ARNs)."""
    found = parse(text)
    return found.account if found else ""


Piece = tuple[str, bool]  # (text, literal): literal text never acts as a wildcard (resolved policy variables)


def glob_regex(pieces: Iterable[Piece], *, segmented: bool) -> re.Pattern[str]:
    """A regex for a pattern given as pieces; with `segmented`, `*` and `?` stay inside one of the first five
    colon-separated segments, as IAM's ARN matching does."""
    out: list[str] = []
    colons = 0
    for text, literal in pieces:
        for char in text:
            inside = segmented and colons < 5
            if char == ":":
                colons += 1
            if literal or char not in "*?":
                out.append(re.escape(char))
            elif char == "*":
                out.append("[^:]*" if inside else ".*")
            else:
                out.append("[^:]" if inside else ".")
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def is_segmented(text: str) -> bool:
    return text.startswith("arn:")


@lru_cache(maxsize=65536)
def _regex(pattern: str) -> re.Pattern[str]:
    return glob_regex([(pattern, False)], segmented=is_segmented(pattern))


def matches(pattern: str, arn: str) -> bool:
    """Does an ARN pattern (wildcards `*` and `?`) match one ARN?"""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern == arn
    return _regex(pattern).match(arn) is not None


def covers_everything(pattern: str) -> bool:
    """A pattern that matches every ARN of every service: "*" (or an equivalent run of stars)."""
    return bool(pattern) and set(pattern) == {"*"}
