"""The documented bundle format (docs/snapshot-bundle.schema.json) matches what the loader and the sample say."""

import json
from pathlib import Path

import jsonschema
import pytest

from audits.iam import organization
from audits.iam.resources import parse_resources
from audits.iam.snapshot import DEMO_PATH, load_snapshot

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "snapshot-bundle.schema.json").read_text())
SAMPLE = ROOT / "audits" / "iam" / "data" / "sample_org_bundle.json"


def test_it_is_a_valid_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", [SAMPLE, DEMO_PATH], ids=["sample_org_bundle", "demo_account"])
def test_it_accepts_the_shipped_bundles(path):
    bundle = json.loads(path.read_text())
    jsonschema.validate(bundle, SCHEMA)
    assert load_snapshot(path.read_bytes()).roles, "the loader reads it too"


def test_it_accepts_what_an_export_of_a_live_run_writes():
    snapshot = load_snapshot(DEMO_PATH.read_bytes())
    jsonschema.validate(snapshot.to_dict(), SCHEMA)


def test_the_sample_parses_into_resources_and_an_organization():
    bundle = json.loads(SAMPLE.read_text())
    found = parse_resources(bundle["resources"])
    assert {r["type"] for r in found} == {
        "s3:bucket",
        "kms:key",
        "sqs:queue",
        "sns:topic",
        "lambda:function",
        "secretsmanager:secret",
        "ecr:repository",
    }
    org = organization.parse_organization(bundle["organization"])
    levels = organization.control_levels(org, bundle["account_id"])
    assert [len(level) for level in levels] == [1, 2, 1], "root, Prod OU, account"
    rcps = organization.control_levels(org, bundle["account_id"], organization.RCP)
    assert [len(level) for level in rcps] == [2, 1, 1], "RCPFullAWSAccess is implicit at every level"


def test_it_rejects_a_bundle_without_authorization_details():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"resources": []}, SCHEMA)
