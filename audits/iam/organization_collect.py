"""Reading an AWS Organization (accounts, the OU tree, SCPs and RCPs) from the management or delegated-admin
account, into the bundle shape of audits/iam/organization.py."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from audits.iam.organization import RCP, SCP, kind_label, parse_organization
from audits.iam.resource_collect import CONFIG, DENIED, Warn
from audits.iam.resources import policy_document


def collect_organization(session: Any, warn: Warn) -> dict | None:
    """The organization as seen from `session`; None (with a warning) when that account cannot read it."""
    client = session.client("organizations", config=CONFIG)
    try:
        org = client.describe_organization()["Organization"]
        roots = _all(client, "list_roots", "Roots")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in DENIED or code in ("AWSOrganizationsNotInUseException",):
            warn(
                "Cannot read the organization (organizations:DescribeOrganization, ListRoots) - audit it from the "
                "management account or a delegated administrator; SCPs and RCPs were not applied"
            )
            return None
        raise
    nodes: list[dict] = []
    stack = [(root["Id"], "ROOT", root.get("Name", "Root"), None, "") for root in roots]
    while stack:
        node_id, kind, name, parent, status = stack.pop()
        nodes.append({"id": node_id, "type": kind, "name": name, "parent": parent, "status": status, "policies": []})
        if kind == "ACCOUNT":
            continue
        for ou in _all(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=node_id):
            stack.append((ou["Id"], "ORGANIZATIONAL_UNIT", ou.get("Name", ou["Id"]), node_id, ""))
        for acct in _all(client, "list_accounts_for_parent", "Accounts", ParentId=node_id):
            stack.append((acct["Id"], "ACCOUNT", acct.get("Name", acct["Id"]), node_id, acct.get("Status", "")))
    policies = []
    by_id = {n["id"]: n for n in nodes}
    for kind in (SCP, RCP):
        try:
            listed = _all(client, "list_policies", "Policies", Filter=kind)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PolicyTypeNotEnabledException", "PolicyTypeNotAvailableForOrganizationException"):
                continue
            if code in DENIED:
                warn(f"Missing permission organizations:ListPolicies - {kind_label(kind)}s were not applied")
                continue
            raise
        for summary in listed:
            described = client.describe_policy(PolicyId=summary["Id"])["Policy"]
            policies.append(
                {
                    "id": summary["Id"],
                    "type": kind,
                    "name": summary.get("Name", ""),
                    "document": policy_document(described.get("Content"), f"policy {summary['Id']}"),
                }
            )
            for target in _all(client, "list_targets_for_policy", "Targets", PolicyId=summary["Id"]):
                if target["TargetId"] in by_id:
                    by_id[target["TargetId"]]["policies"].append(summary["Id"])
    return parse_organization(
        {
            "id": org.get("Id", ""),
            "management_account_id": org.get("MasterAccountId", ""),
            "nodes": nodes,
            "policies": policies,
        }
    )


def _all(client: Any, operation: str, key: str, **kwargs: Any) -> list:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]
