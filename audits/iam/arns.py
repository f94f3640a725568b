"""ARN parsing and IAM's wildcard matching of ARNs (Resource elements, Arn* condition operators).

A pattern starting with "arn:" matches segment by segment, by the rule in `wildcard` (IAM User Guide, "IAM JSON
policy elements: Resource"): in the first five colon-separated parts a `?`, or a `*` with more of its segment
after it, stays inside the segment, while a `*` that ends its segment may span colons ("arn:aws:sqs:us-east-1:*"
matches every queue of the region); in the resource part both match anything, "/" and ":" included. Matching is
case-sensitive. A pattern that does not start with "arn:" ("*", "*/x") is compared as one plain glob.
"""

from __future__ import annotations

from typing import NamedTuple

from audits.iam import wildcard


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


Piece = wildcard.Piece


def is_segmented(text: str) -> bool:
    return text.startswith("arn:")


def matcher(pieces: tuple[Piece, ...], raw: str) -> wildcard.Matcher:
    """The matcher for a (resolved) pattern; `raw` is the policy text, which decides whether it is an ARN pattern."""
    return wildcard.compile_pieces(pieces, is_segmented(raw))


def matches(pattern: str, arn: str) -> bool:
    """Does an ARN pattern (wildcards `*` and `?`) match one ARN?"""
    if pattern == "*":
        return True
    return wildcard.matches(pattern, arn, segmented=is_segmented(pattern))


def covers_everything(pattern: str) -> bool:
    """A pattern that matches every ARN of every service: "*" (or an equivalent run of stars)."""
    return bool(pattern) and set(pattern) == {"*"}
