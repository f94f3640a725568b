"""The engine's one wildcard matcher: same answers as a plain regex translation, linear time on hostile patterns,
and IAM's ARN segment rule (IAM User Guide, "IAM JSON policy elements: Resource")."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from audits.iam import actions, arns, wildcard
from audits.iam.evaluator import action_matches


def reference(pieces: tuple[tuple[str, bool], ...], segmented: bool, text: str) -> bool:
    """A direct regex translation of the rule: slow on hostile input, fine on small examples."""
    chars = [(c, literal) for piece, literal in pieces for c in piece]
    out: list[str] = []
    colons = 0
    for i, (char, literal) in enumerate(chars):
        inside = segmented and colons < 5
        if char == ":":
            colons += 1
        if literal or char not in "*?":
            out.append(re.escape(char))
        elif char == "?":
            out.append("[^:]" if inside else ".")
        else:
            rest = [c for c, lit in chars[i + 1 :] if not (c == "*" and not lit)]
            ends_segment = not rest or rest[0] == ":"
            out.append("[^:]*" if inside and not ends_segment else ".*")
    return re.fullmatch("".join(out), text, re.DOTALL) is not None


ALPHABET = "ab:/*?"
pieces_strategy = st.lists(
    st.tuples(st.text(alphabet=ALPHABET, max_size=8), st.booleans()), min_size=1, max_size=3
).map(tuple)


@settings(max_examples=600, deadline=None)
@given(pieces=pieces_strategy, text=st.text(alphabet="ab:/", max_size=14), segmented=st.booleans())
def test_it_agrees_with_a_regex_translation(pieces, text, segmented):
    assert wildcard.compile_pieces(pieces, segmented).matches(text) == reference(pieces, segmented, text)


@settings(max_examples=300, deadline=None)
@given(
    middle=st.text(alphabet="ab:*?", max_size=12),
    text=st.text(alphabet="ab:", max_size=12),
)
def test_it_agrees_on_arn_shaped_patterns(middle, text):
    pattern = "arn:aws:" + middle
    arn = "arn:aws:" + text
    assert arns.matches(pattern, arn) == reference(((pattern, False),), True, arn)


def test_it_decides_hostile_patterns():
    many = "arn:aws:s3:::" + "*a" * 200 + "*b"
    assert not arns.matches(many, "arn:aws:s3:::" + "a" * 2000)
    assert arns.matches(many, "arn:aws:s3:::" + "a" * 2000 + "b")
    issue = "arn:aws:s3:::*a*a*a*a*a*a*a*a*b"
    assert not arns.matches(issue, "arn:aws:s3:::" + "a" * 44)
    # stars of both kinds (inside the account segment, and in the resource) take the bit-parallel path
    mixed = "arn:aws:iam::" + "*1" * 200 + "?:role/" + "*a" * 200 + "*b"
    assert not arns.matches(mixed, "arn:aws:iam::" + "1" * 2000 + "2:role/" + "a" * 2000)
    assert arns.matches(mixed, "arn:aws:iam::" + "1" * 2000 + "2:role/" + "a" * 2000 + "b")
    assert not arns.matches(mixed, "arn:aws:iam::" + "1" * 1000 + ":" + "1" * 1000 + "2:role/" + "a" * 10 + "b")
    # PassRole-style role names, StringLike values and actions go through the same matcher
    assert not wildcard.matches("*a" * 10 + "*b", "a" * 40)
    assert not action_matches("s3:" + "*a" * 200 + "*b", "s3:" + "a" * 2000)
    assert not arns.matches("arn:aws:iam::*:role/" + "*a" * 200 + "*b", "arn:aws:iam::1:role/" + "a" * 2000)


def test_it_lets_a_star_that_ends_an_arn_segment_cross_colons():
    assert arns.matches("arn:aws:sqs:us-east-1:*", "arn:aws:sqs:us-east-1:123456789012:q1")
    assert arns.matches("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/x")
    assert not arns.matches("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/y")
    assert arns.matches("arn:aws:sqs:*", "arn:aws:sqs:eu-west-1:123456789012:q1")


def test_it_keeps_an_inner_star_and_a_question_mark_inside_their_segment():
    assert arns.matches("arn:aws:ec2:us-*-1:*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1")
    assert not arns.matches("arn:aws:ec2:us-*-1:*", "arn:aws:ec2:us-east:9-1:123456789012:instance/i-1")
    assert not arns.matches("arn:aws:sns:*1:topic", "arn:aws:sns:eu-west-1:111122223333:topic")
    assert arns.matches("arn:aws:s3:::b?cket/*", "arn:aws:s3:::bucket/a:b/c")  # the resource part is one segment
    assert not arns.matches("arn:aws:iam::11112222333?:role/x", "arn:aws:iam::11112222333::role/x")


def test_it_keeps_plain_globs_and_literal_pieces_as_before():
    assert arns.matches("*", "anything at all")
    assert arns.matches("*/x", "a:b/x")  # not an ARN pattern: one plain glob
    literal = wildcard.compile_pieces((("arn:aws:s3:::", False), ("a*", True), ("/*", False)), True)
    assert literal.matches("arn:aws:s3:::a*/k") and not literal.matches("arn:aws:s3:::ab/k")
    assert "s3:getobject" in actions.expand("s3:Get*") and "s3:putobject" not in actions.expand("s3:Get*")
    assert "sqs:sendmessage" in actions.expand("s?s:SendMessage") and not actions.expand("s?s:NoSuchThing")
