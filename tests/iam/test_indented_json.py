"""dumps_indented writes exactly what json.dumps(indent=...) writes, only faster."""

import json

import pytest

from audits.iam.indented_json import dumps_indented

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}, "NumericLessThan": {"aws:x": 3}},
        }
    ],
}


@pytest.mark.parametrize(
    "value",
    [
        POLICY,
        {},
        [],
        {"empty": {}, "none": [], "nested": [[], [{}], {"k": [{}]}]},
        [1, -2, 2.5, 1e100, None, True, False],
        'quote " backslash \\ newline \n snowman \u2603',
        {"\u00e9t\u00e9": "caf\u00e9"},
        {1: "int key", 2.5: "float key", None: "none key"},  # json turns keys into strings: the fallback's rules
        ("a", "tuple"),
        [float("inf"), float("nan")],
    ],
)
@pytest.mark.parametrize("step,margin", [(2, 0), (4, 6)])
def test_same_text_as_the_standard_encoder(value, step, margin):
    expected = json.dumps(value, indent=step).replace("\n", "\n" + " " * margin)
    assert dumps_indented(value, step, margin) == expected


def test_unencodable_values_raise_as_json_does():
    with pytest.raises(TypeError):
        dumps_indented({"when": object()})
