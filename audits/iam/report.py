"""Audit reports as JSON, CSV, SARIF 2.1.0 and OCSF 1.1 Detection Findings, from finding dicts and the run's result."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from audits.iam.finding_types import Finding

REPORT_SCHEMA_VERSION = "1.0"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
CSV_COLUMNS = (
    "severity",
    "check_id",
    "category",
    "title",
    "principal_type",
    "principal_name",
    "principal_arn",
    "policy",
    "detail",
    "remediation",
    "controls",
    "evidence",
    "fingerprint",
    # Added at the end, so the columns above keep their positions.
    "account",
    "run",
    "suppressed",
    "muted_by",
    "fix",
)
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning orders alerts by this 0.0-10.0 property.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TOOL_NAME = "Aegis IAM"
OCSF_VERSION = "1.1.0"
# OCSF Detection Finding (class 2004 in category 2, Findings); activity 1 = Create, so type_uid = 2004 * 100 + 1.
OCSF_CLASS, OCSF_CATEGORY, OCSF_ACTIVITY = 2004, 2, 1
OCSF_SEVERITY = {
    "info": (1, "Informational"),
    "low": (2, "Low"),
    "medium": (3, "Medium"),
    "high": (4, "High"),
    "critical": (5, "Critical"),
}
OCSF_RESOURCE_TYPE = {
    "user": "AwsIamUser",
    "role": "AwsIamRole",
    "group": "AwsIamGroup",
    "policy": "AwsIamPolicy",
    "account": "AwsAccount",
}


def to_json(run_meta: dict, result: dict, findings: list[Finding]) -> str:
    """The JSON report (schema_version "1.0"):

    {
      "schema_version": "1.0",
      "run":        run_meta as given (run_id, source, frameworks, status, started, finished, ...),
      "account":    {"id": "123456789012" | "", "principals": {"users": n, "groups": n, "roles": n, ...}},
      "frameworks": [{"key", "name", "passed", "failed", "not_evaluated",
                      "controls": [{"id", "title", "status": "pass|fail|not_evaluated", "checks", "findings"}]}],
      "summary":    {"risk_score": 0-100 | null, "risk_band": str, "total_findings": n,
                     "by_severity": {"critical": n, ...}, "by_category": {category: n},
                     "patterns": [...], "top_risks": [...]},
      "findings":   [finding dicts, most severe first: check_id, category, severity, principal_arn, principal_type,
                     principal_name, policy, title, detail, evidence, remediation, controls, fingerprint, ...;
                     a suppressed one also "suppressed": true and "muted_by": "rule #3: <reason>" for a mute
                     rule or "accepted risk: <justification>"]
    }
    The summary counts leave suppressed findings out, as the score does; with any, it adds "suppressed_findings".
    Keys are only ever added within a schema version, never renamed or removed.
    """
    ordered = sorted_findings(findings)
    return "".join(json_chunks(run_meta, result, totals(ordered), ordered))


def totals(findings: Iterable[Finding]) -> dict:
    """The counts the JSON report's summary gives: total, by_severity and by_category of the findings not
    suppressed, and how many are suppressed."""
    by_severity = dict.fromkeys(SEVERITY_ORDER, 0)
    by_category: dict[str, int] = {}
    total = suppressed = 0
    for f in findings:
        if f.get("suppressed"):
            suppressed += 1
            continue
        total += 1
        if f.get("severity") in by_severity:
            by_severity[f["severity"]] += 1
        by_category[f.get("category", "")] = by_category.get(f.get("category", ""), 0) + 1
    return {
        "total": total,
        "by_severity": by_severity,
        "by_category": dict(sorted(by_category.items())),
        "suppressed": suppressed,
    }


def json_chunks(run_meta: dict, result: dict, counts: dict, ordered: Iterable[Finding]) -> Iterator[str]:
    """to_json's text in pieces, the findings (already in report order, counted in counts) written one by one, so
    a download of a big run holds one finding at a time, not the document."""
    audit_summary = result.get("audit_summary") or {}
    document: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": run_meta,
        "account": {
            "id": audit_summary.get("account_id") or run_meta.get("account_id") or "",
            "principals": audit_summary.get("principals") or {},
        },
        "frameworks": [{"key": key, **table} for key, table in (result.get("compliance") or {}).items()],
        "summary": {
            "risk_score": result.get("risk_score", run_meta.get("risk_score")),
            "risk_band": result.get("risk_band", ""),
            "total_findings": counts["total"],
            "by_severity": counts["by_severity"],
            "by_category": counts["by_category"],
            "patterns": result.get("patterns") or [],
            "top_risks": result.get("top_risks") or [],
        },
        "findings": [],
    }
    if counts.get("suppressed"):
        document["summary"]["suppressed_findings"] = counts["suppressed"]
    # No indent: only the C encoder is fast, and it does not indent (pipe through `jq .` to read).
    yield from _list_last(json.dumps(document, ensure_ascii=False, default=str), "}", ordered, lambda f: f)
    yield "\n"


def _list_last(head: str, closing: str, items: Iterable, shape: Callable[[Any], Any]) -> Iterator[str]:
    """A JSON text whose last member is an empty list (head ends with "[]" + closing), with items written into it
    one by one as json.dumps would write them."""
    yield head[: -len(closing) - 1]
    encode = _ENCODER.encode  # json.dumps(item, ensure_ascii=False, default=str) without a new encoder per item
    for i, item in enumerate(items):
        yield (", " if i else "") + encode(shape(item))
    yield "]" + closing


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def to_csv(findings: list[Finding], run_meta: dict | None = None) -> str:
    """One row per finding; every cell is neutralised so spreadsheets never evaluate it as a formula. The run
    column and the account of a finding without an ARN come from run_meta (run_id, account_id)."""
    return "".join(csv_chunks(sorted_findings(findings), run_meta=run_meta))


def csv_chunks(ordered: Iterable[Finding], rows_per_chunk: int = 200, run_meta: dict | None = None) -> Iterator[str]:
    """to_csv's text in pieces of rows_per_chunk rows, from findings already in report order."""
    meta = run_meta or {}
    run_id = "" if meta.get("run_id") is None else str(meta["run_id"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i, finding in enumerate(ordered, 1):
        row = finding | {"account": _account(finding, meta.get("account_id") or ""), "run": run_id}
        writer.writerow([safe_cell(_cell(row, column)) for column in CSV_COLUMNS])
        if i % rows_per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def to_sarif(run_meta: dict, findings: list[Finding], rules: dict) -> str:
    """SARIF 2.1.0 with one rule per catalog check and one result per finding, located at the principal's ARN."""
    ordered = sorted_findings(findings)
    return "".join(sarif_chunks(run_meta, {f["check_id"] for f in ordered}, ordered, rules))


def sarif_chunks(run_meta: dict, check_ids: Iterable[str], ordered: Iterable[Finding], rules: dict) -> Iterator[str]:
    """to_sarif's text in pieces, from the run's distinct check ids and its findings already in report order."""
    rule_ids = list(rules)
    for extra in sorted(set(check_ids) - set(rules)):
        rule_ids.append(extra)  # a finding from a check the catalog no longer has still needs a rule
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "rules": [_rule(rule_id, rules.get(rule_id)) for rule_id in rule_ids],
                    }
                },
                "automationDetails": {"id": _automation_id(run_meta)},
                "properties": {"run": run_meta},
                "results": [],
            }
        ],
    }
    head = json.dumps(sarif, ensure_ascii=False, default=str)
    yield from _list_last(head, "}]}", ordered, lambda f: _result(f, index[f["check_id"]]))
    yield "\n"


def _automation_id(run_meta: dict) -> str:
    # "category/instance": GitHub groups uploads by category, so one account's runs replace each other.
    return f"aegis-iam/{run_meta.get('account_id') or 'account'}/{run_meta.get('run_id', '')}"


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    rank = {sev: i for i, sev in enumerate(SEVERITY_ORDER)}
    return sorted(
        findings,
        key=lambda f: (
            rank.get(f.get("severity"), len(rank)),
            f.get("check_id", ""),
            f.get("principal_arn", ""),
            f.get("fingerprint", ""),
        ),
    )


def safe_cell(value: str) -> str:
    # OWASP CSV injection: a leading quote makes Excel/Sheets/LibreOffice show the text instead of running it.
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _account(finding: Finding, run_account: str) -> str:
    """The account the finding's principal is in (an organization run's findings span accounts), else the run's."""
    parts = str(finding.get("principal_arn") or "").split(":", 5)
    # An AWS-managed policy's ARN has "aws" where an account id would be: that is the run's account.
    return parts[4] if len(parts) == 6 and parts[0] == "arn" and parts[4].isdigit() else run_account


def fix_line(fix: object) -> str:
    """A fix in one cell: its first CLI line, else its summary."""
    if not isinstance(fix, dict):
        return ""
    cli = fix.get("cli")
    first = cli[0] if isinstance(cli, list) and cli else ""
    return str(first or fix.get("summary") or "")


def _cell(finding: Mapping[str, Any], column: str) -> str:
    if column == "suppressed":
        return "true" if finding.get("suppressed") else "false"
    if column == "fix":
        return fix_line(finding.get("fix"))
    value = finding.get(column, "")
    if column == "controls" and isinstance(value, dict):
        return "; ".join(f"{fw}: {', '.join(ids)}" for fw, ids in sorted(value.items()))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return "" if value is None else str(value)


def _rule(rule_id: str, check: Any) -> dict:
    def get(name: str, default: str = "") -> Any:
        if check is None:
            return default
        return check.get(name, default) if isinstance(check, dict) else getattr(check, name, default)

    severity = get("severity", "medium")
    title = get("title", rule_id)
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("_")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": get("description") or title},
        "help": {"text": get("remediation") or title},
        "defaultConfiguration": {"level": SARIF_LEVEL.get(severity, "warning")},
        "properties": {
            "category": get("category"),
            "severity": severity,
            "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
            "tags": ["security", "iam", get("category")],
        },
    }


def _result(finding: Finding, rule_index: int) -> dict:
    severity = finding.get("severity", "medium")
    principal = finding.get("principal_arn") or finding.get("principal_name") or "account"
    message = finding.get("title", finding["check_id"])
    if finding.get("principal_name"):
        message = f"{message}: {finding.get('principal_type', 'principal')} '{finding['principal_name']}'"
    if finding.get("detail"):
        message = f"{message}. {finding['detail']}"
    result: dict[str, Any] = {
        "ruleId": finding["check_id"],
        "ruleIndex": rule_index,
        "level": SARIF_LEVEL.get(severity, "warning"),
        "message": {"text": message},
        "locations": [
            {
                "logicalLocations": [
                    {
                        "name": finding.get("principal_name") or principal,
                        "fullyQualifiedName": principal,
                        "kind": "resource",
                    }
                ],
            }
        ],
        "partialFingerprints": {"aegisFingerprint/v1": finding.get("fingerprint", "")},
        "properties": {
            "severity": severity,
            "category": finding.get("category", ""),
            "policy": finding.get("policy", ""),
            "controls": finding.get("controls") or {},
            "evidence": finding.get("evidence"),
            "remediation": finding.get("remediation", ""),
        },
    }
    fix = _sarif_fix(finding.get("fix"))
    if fix:
        # Under properties, not `fixes`: a SARIF fix (3.55) needs artifactChanges, edits to files, and an IAM fix
        # changes an account, not a file. Code scanning keeps a result's properties as they are.
        result["properties"]["fix"] = fix
    if finding.get("suppressed"):
        # SARIF 2.1.0 3.27.23: GitHub code scanning and other CI gates leave a suppressed result out.
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": finding.get("muted_by") or "accepted risk"}
        ]
    return result


def _sarif_fix(fix: object) -> dict:
    """What the run page shows of a fix: verified or not (None for a fix that is not proven by a re-audit), its
    summary, what it takes away, its side effects and the CLI lines that apply it."""
    if not isinstance(fix, dict) or not fix:
        return {}
    shown = {
        "verified": fix.get("verified") if isinstance(fix.get("verified"), bool) else None,
        "summary": fix.get("summary") or "",
        "removes": list(fix.get("removes") or []),
        "side_effects": list(fix.get("side_effects") or []),
        "cli": list(fix.get("cli") or []),
    }
    if fix.get("docs"):
        shown["docs"] = [d.get("url") for d in fix["docs"] if isinstance(d, dict) and d.get("url")]
    return shown


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def to_ocsf(run_meta: dict, findings: list[Finding], rules: dict) -> str:
    """A JSON array of OCSF 1.1 Detection Findings (class_uid 2004), one per finding, the shape Prowler writes and
    AWS Security Hub / Security Lake ingest. Aegis fields without an OCSF home (controls, evidence, fix) are kept
    under `unmapped`; a suppressed finding (accepted risk) has status "Suppressed"."""
    return "".join(ocsf_chunks(run_meta, sorted_findings(findings), rules))


def ocsf_chunks(run_meta: dict, ordered: Iterable[Finding], rules: dict) -> Iterator[str]:
    """to_ocsf's text in pieces, from findings already in report order."""
    finished = run_meta.get("finished") or run_meta.get("started")
    moment = _epoch_ms(finished)
    account = run_meta.get("account_id") or ""

    def event(f: Finding) -> dict:
        return _ocsf_event(f, rules.get(f.get("check_id", "")), run_meta, account, moment)

    yield from _list_last("[]", "", ordered, event)
    yield "\n"


def _epoch_ms(timestamp: str | None) -> int:
    if not timestamp:
        return int(datetime.now(UTC).timestamp() * 1000)
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return int(datetime.now(UTC).timestamp() * 1000)


def _ocsf_event(finding: Finding, check: Any, run_meta: dict, account: str, moment: int) -> dict:
    severity_id, severity = OCSF_SEVERITY.get(finding.get("severity", ""), (0, "Unknown"))
    suppressed = bool(finding.get("suppressed"))
    principal = finding.get("principal_arn") or finding.get("principal_name") or account
    fix = finding.get("fix") or {}
    references = [d["url"] for d in fix.get("docs", []) if isinstance(d, dict) and d.get("url")]
    description = getattr(check, "description", "") if check is not None else ""
    message = finding.get("title", finding.get("check_id", ""))
    if finding.get("principal_name"):
        message = f"{message}: {finding.get('principal_type', 'principal')} {finding['principal_name']}"
    return {
        "class_uid": OCSF_CLASS,
        "class_name": "Detection Finding",
        "category_uid": OCSF_CATEGORY,
        "category_name": "Findings",
        "activity_id": OCSF_ACTIVITY,
        "activity_name": "Create",
        "type_uid": OCSF_CLASS * 100 + OCSF_ACTIVITY,
        "type_name": "Detection Finding: Create",
        "time": moment,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 3 if suppressed else 1,
        "status": "Suppressed" if suppressed else "New",
        "status_code": "FAIL",
        "status_detail": finding.get("detail", ""),
        "message": message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": TOOL_NAME, "vendor_name": TOOL_NAME, "uid": "aegis-iam"},
            "event_code": finding.get("check_id", ""),
            "uid": finding.get("fingerprint", ""),
        },
        "finding_info": {
            "uid": finding.get("fingerprint", ""),
            "title": finding.get("title", ""),
            "desc": description or finding.get("detail", ""),
            "types": [finding.get("category", "")],
            "created_time": moment,
            "product_uid": "aegis-iam",
        },
        "cloud": {"provider": "AWS", "account": {"uid": account, "type": "AWS Account", "type_id": 10}},
        "resources": [
            {
                "uid": principal,
                "name": finding.get("principal_name") or principal,
                "type": OCSF_RESOURCE_TYPE.get(finding.get("principal_type", ""), "Other"),
                "cloud_partition": principal.split(":")[1] if principal.startswith("arn:") else "aws",
                "region": "global",
                "data": {"policy": finding.get("policy", "")},
            }
        ],
        "remediation": {"desc": fix.get("summary") or finding.get("remediation", ""), "references": references},
        "unmapped": {
            "run_id": run_meta.get("run_id"),
            "check_id": finding.get("check_id", ""),
            "compliance": finding.get("controls") or {},
            "evidence": finding.get("evidence"),
            "fix": fix,
            "conditioned": bool(finding.get("conditioned")),
            **({"muted_by": finding.get("muted_by") or "accepted risk"} if suppressed else {}),
        },
    }
