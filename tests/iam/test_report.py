import csv
import io
import json

import pytest

from audits.iam.report import REPORT_SCHEMA_VERSION, safe_cell, to_csv, to_json, to_sarif

RUN = {"run_id": 7, "account_id": "123456789012", "source": "demo", "frameworks": ["pci_dss"], "status": "completed"}
RULES = {
    "role_admin_access": {
        "title": "Role has full administrative access",
        "severity": "critical",
        "category": "admin_access",
        "description": "Allows *:*.",
        "remediation": "Scope it.",
    },
    "console_user_without_mfa": {
        "title": "Console user without MFA",
        "severity": "medium",
        "category": "credential_hygiene",
        "description": "No MFA.",
        "remediation": "Add MFA.",
    },
    "unused_role": {"title": "Unused role", "severity": "low", "category": "unused_access"},
}


def finding(check_id="role_admin_access", severity="critical", name="ProductionAdmin", **extra) -> dict:
    return {
        "check_id": check_id,
        "category": RULES.get(check_id, {}).get("category", "admin_access"),
        "severity": severity,
        "principal_arn": f"arn:aws:iam::123456789012:role/{name}",
        "principal_type": "role",
        "principal_name": name,
        "policy": "AdministratorAccess",
        "title": "Role has full administrative access",
        "detail": "Allows every action.",
        "evidence": {"statement": {"Action": "*", "Resource": "*"}},
        "remediation": "Scope it.",
        "controls": {"pci_dss": ["7.2.1"], "cis_aws": ["1.16"]},
        "fingerprint": f"fp-{check_id}-{name}",
    } | extra


FINDINGS = [
    finding("unused_role", "low", "old-role"),
    finding(),
    finding("console_user_without_mfa", "medium", "intern", principal_type="user"),
]
RESULT = {
    "risk_score": 62,
    "risk_band": "high",
    "audit_summary": {"account_id": "123456789012", "principals": {"users": 1, "roles": 2}},
    "compliance": {
        "pci_dss": {
            "name": "PCI DSS 4.0",
            "passed": 3,
            "failed": 1,
            "not_evaluated": 0,
            "controls": [{"id": "7.2.1", "status": "fail", "findings": ["fp"]}],
        }
    },
}


def test_it_writes_a_json_report_that_round_trips():
    document = json.loads(to_json(RUN, RESULT, FINDINGS))
    assert document["schema_version"] == REPORT_SCHEMA_VERSION
    assert document["run"] == RUN
    assert document["account"] == {"id": "123456789012", "principals": {"users": 1, "roles": 2}}
    assert document["frameworks"][0]["key"] == "pci_dss" and document["frameworks"][0]["failed"] == 1
    assert document["summary"]["risk_score"] == 62 and document["summary"]["total_findings"] == 3
    assert document["summary"]["by_severity"] == {"critical": 1, "high": 0, "medium": 1, "low": 1, "info": 0}
    assert [f["severity"] for f in document["findings"]] == ["critical", "medium", "low"]
    by_fingerprint = {f["fingerprint"]: f for f in FINDINGS}
    assert {f["fingerprint"]: f for f in document["findings"]} == by_fingerprint


def test_it_writes_a_json_report_without_a_result():
    document = json.loads(to_json({"run_id": 1}, {}, []))
    assert document["summary"]["total_findings"] == 0 and document["frameworks"] == []


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"])
def test_it_neutralises_formula_cells(payload):
    rows = list(csv.DictReader(io.StringIO(to_csv([finding(principal_name=payload, detail=payload)]))))
    assert rows[0]["principal_name"] == "'" + payload
    assert rows[0]["detail"] == "'" + payload
    assert safe_cell("ProductionAdmin") == "ProductionAdmin"


def test_it_writes_one_csv_row_per_finding_with_readable_controls():
    rows = list(csv.DictReader(io.StringIO(to_csv(FINDINGS))))
    assert [r["check_id"] for r in rows] == ["role_admin_access", "console_user_without_mfa", "unused_role"]
    assert rows[0]["controls"] == "cis_aws: 1.16; pci_dss: 7.2.1"
    assert json.loads(rows[0]["evidence"]) == {"statement": {"Action": "*", "Resource": "*"}}


def test_it_writes_structurally_valid_sarif():
    sarif = json.loads(to_sarif(RUN, [*FINDINGS, finding("retired_check", "high", "x")], RULES))
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"]
    assert [r["id"] for r in rules] == [*RULES, "retired_check"]
    for rule in rules:
        assert set(rule) >= {"id", "shortDescription", "defaultConfiguration"} and rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    assert len(run["results"]) == 4
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note", "none"}
        assert result["message"]["text"]
        assert result["partialFingerprints"]["aegisFingerprint/v1"].startswith("fp-")
        (location,) = result["locations"]
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("arn:aws:iam::")
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {
        "role_admin_access": "error",
        "console_user_without_mfa": "warning",
        "unused_role": "note",
        "retired_check": "error",
    }


def test_it_reads_rules_from_catalog_objects():
    class Check:
        title, severity, category, description, remediation = "Unused role", "low", "unused_access", "d", "r"

    sarif = json.loads(to_sarif(RUN, [], {"unused_role": Check()}))
    (rule,) = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rule["shortDescription"]["text"] == "Unused role" and rule["defaultConfiguration"]["level"] == "note"
