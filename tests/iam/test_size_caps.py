"""Size caps: a trimmed value is valid JSON within its budget, cut where it is biggest; policy statement limits."""

import json
import random

import pytest

from audits.iam.snapshot import MAX_STATEMENTS_PER_POLICY, SnapshotError, load_snapshot
from audits.size_caps import TRUNCATED_NOTE, cap, cap_finding, cap_strings, json_size


def random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice(["x" * rng.randint(0, 3000), 'é"\n\\' * rng.randint(0, 300), 7, 2.5, None, True, "\ud800"])
    if roll < 0.65:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 8))]
    return {f"k{i}" * rng.randint(1, 20): random_value(rng, depth + 1) for i in range(rng.randint(0, 8))}


def test_json_size_is_the_stored_length_and_stops_counting_past_the_limit():
    rng = random.Random(7)
    for _ in range(200):
        value = random_value(rng)
        assert json_size(value, 10**12) == len(json.dumps(value))
    shared = [["a" * 1000] * 1000] * 1000  # 1 GB as JSON; counted only until it passes the limit
    assert json_size(shared, 100) > 100


@pytest.mark.parametrize("budget", [200, 1000, 65536])
def test_a_capped_value_is_valid_json_within_its_budget(budget):
    rng = random.Random(budget)
    for _ in range(200):
        value = random_value(rng)
        capped, cut = cap(value, budget)
        text = json.dumps(capped)
        json.loads(text)
        assert len(text) <= budget or (not cut and capped is value)
        assert cut == (len(json.dumps(value)) > budget)


def test_the_biggest_parts_are_cut_and_the_small_ones_kept():
    value = {"id": "abc", "severity": "high", "values": list(range(1_000_000)), "text": "y" * 10_000_000}
    capped, cut = cap(value, 4096)
    assert cut and capped["id"] == "abc" and capped["severity"] == "high"
    assert capped["values"][:3] == [0, 1, 2] and capped["values"][-1].endswith("more not shown (truncated)")
    assert capped["text"].startswith("yyy") and capped["text"].endswith("(truncated)")
    assert len(json.dumps(capped)) <= 4096


def test_a_capped_finding_keeps_its_identity_and_marks_its_evidence():
    evidence = [{"statement": {"v": list(range(50_000))}}]
    finding = {"check_id": "c", "severity": "high", "principal_arn": "arn:aws:iam::1:user/u", "title": "T",
               "fingerprint": "f", "detail": "d" * 200_000, "evidence": evidence}  # fmt: skip
    capped = cap_finding(finding, 8192)
    assert {k: capped[k] for k in ("check_id", "severity", "principal_arn", "title", "fingerprint")} == {
        "check_id": "c", "severity": "high", "principal_arn": "arn:aws:iam::1:user/u", "title": "T", "fingerprint": "f",
    }  # fmt: skip
    assert capped["evidence"]["truncated"] is True and capped["evidence"]["truncated_note"] == TRUNCATED_NOTE
    assert capped["evidence"]["value"][0]["statement"]["v"][0] == 0  # a list evidence is kept under "value"
    assert len(json.dumps(capped)) <= 8192
    assert cap_finding({"check_id": "c", "evidence": {}}, 8192) == {"check_id": "c", "evidence": {}}


def test_cap_strings_copies_only_what_it_cuts():
    value = {"keep": ["a", {"b": "c"}], "cut": ["z" * 50]}
    capped = cap_strings(value, 20)
    assert capped["keep"] is value["keep"] and capped["cut"][0] == "zzzzz... (truncated)"
    assert cap_strings(value, 100) is value


def _export(statements: int) -> dict:
    granted = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b{i}/*"} for i in range(statements)
    ]
    document = {"Version": "2012-10-17", "Statement": granted}
    return {"UserDetailList": [{"UserName": "u", "UserId": "AIDAU", "Arn": "arn:aws:iam::123456789012:user/u",
                                "UserPolicyList": [{"PolicyName": "p", "PolicyDocument": document}]}],
            "GroupDetailList": [], "RoleDetailList": [], "Policies": []}  # fmt: skip


def test_a_policy_far_past_aws_limits_is_refused_with_a_clear_message():
    assert load_snapshot(_export(MAX_STATEMENTS_PER_POLICY)).account_id == "123456789012"
    with pytest.raises(SnapshotError) as refused:
        load_snapshot(_export(400_000))
    message = str(refused.value)
    assert "UserPolicyList[0].PolicyDocument has 400,000 statements" in message
    assert f"the limit is {MAX_STATEMENTS_PER_POLICY:,} per policy" in message
