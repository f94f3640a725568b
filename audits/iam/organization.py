"""An AWS Organization's shape: accounts, the OU tree, and the SCPs and RCPs attached along it.

Bundle section (docs/snapshot-bundle.schema.json):
    "organization": {
      "id": "o-abc123", "management_account_id": "111111111111",
      "nodes": [{"id": "r-ab12", "type": "ROOT", "name": "Root", "parent": null, "policies": ["p-FullAWSAccess"]},
                {"id": "ou-ab12-x", "type": "ORGANIZATIONAL_UNIT", "name": "Prod", "parent": "r-ab12", ...},
                {"id": "222222222222", "type": "ACCOUNT", "name": "prod-app", "parent": "ou-ab12-x",
                 "status": "ACTIVE", "policies": [...]}],
      "policies": [{"id": "p-...", "type": "SERVICE_CONTROL_POLICY" | "RESOURCE_CONTROL_POLICY", "name": ...,
                    "document": {...}}]
    }

An SCP limits a member account only when every level from the root down to the account allows the action, so
`control_levels` returns one list of documents per level; the evaluator requires an Allow at each. The management
account is never limited by SCPs or RCPs (AWS: "SCPs don't affect users or roles in the management account").
Reading it from the management account is audits/iam/organization_collect.py.
"""

from __future__ import annotations

from typing import Any

from audits.iam.resources import ResourceFormatError, policy_document

SCP, RCP = "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"
NODE_TYPES = ("ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT")
RCP_FULL_ACCESS = {
    "id": "p-RCPFullAWSAccess",
    "type": RCP,
    "name": "RCPFullAWSAccess",
    "document": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    },
}


def parse_organization(value: Any) -> dict | None:
    """Check and normalise a bundle's "organization" section."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ResourceFormatError("organization must be an object")
    nodes, policies = value.get("nodes"), value.get("policies", [])
    if not isinstance(nodes, list) or not isinstance(policies, list):
        raise ResourceFormatError("organization.nodes and organization.policies must be lists")
    out_nodes = []
    for i, node in enumerate(nodes):
        where = f"organization.nodes[{i}]"
        if not isinstance(node, dict) or node.get("type") not in NODE_TYPES or not isinstance(node.get("id"), str):
            raise ResourceFormatError(f"{where} needs an id and a type ({', '.join(NODE_TYPES)})")
        attached = node.get("policies", [])
        if not isinstance(attached, list) or not all(isinstance(p, str) for p in attached):
            raise ResourceFormatError(f"{where}.policies must be a list of policy ids")
        parent = node.get("parent")
        out_nodes.append(
            {
                "id": node["id"],
                "type": node["type"],
                "name": str(node.get("name") or node["id"]),
                "parent": parent if isinstance(parent, str) else None,
                "status": str(node.get("status") or ""),
                "policies": list(attached),
            }
        )
    out_policies = []
    for i, policy in enumerate(policies):
        where = f"organization.policies[{i}]"
        valid = isinstance(policy, dict) and policy.get("type") in (SCP, RCP) and isinstance(policy.get("id"), str)
        if not valid:
            raise ResourceFormatError(f"{where} needs an id and a type ({SCP} or {RCP})")
        document = policy_document(policy.get("document"), f"{where}.document")
        out_policies.append(
            {
                "id": policy["id"],
                "type": policy["type"],
                "name": str(policy.get("name") or ""),
                "document": document or {"Statement": []},
            }
        )
    known = {n["id"] for n in out_nodes}
    for node in out_nodes:
        if node["parent"] is not None and node["parent"] not in known:
            raise ResourceFormatError(f"organization node {node['id']} names an unknown parent {node['parent']}")
    return {
        "id": str(value.get("id") or ""),
        "management_account_id": str(value.get("management_account_id") or ""),
        "nodes": out_nodes,
        "policies": out_policies,
    }


def accounts(org: dict) -> list[dict]:
    return [n for n in org["nodes"] if n["type"] == "ACCOUNT"]


def path_to(org: dict, account_id: str) -> list[dict]:
    """Root first, the account last; [] when the organization does not contain the account."""
    by_id = {n["id"]: n for n in org["nodes"]}
    node = by_id.get(account_id)
    chain: list[dict] = []
    seen: set[str] = set()
    while node is not None and node["id"] not in seen:  # a cycle in hostile input ends the walk
        seen.add(node["id"])
        chain.append(node)
        node = by_id.get(node["parent"]) if node["parent"] else None
    return chain[::-1]


def control_levels(org: dict | None, account_id: str, kind: str = SCP) -> list[list[tuple[str, dict]]]:
    """[(policy label, document), ...] per level from the root to the account; [] when nothing applies."""
    if org is None or account_id == org.get("management_account_id"):
        return []
    policies = {p["id"]: p for p in org["policies"] if p["type"] == kind}
    if not policies:
        return []  # this policy type is not enabled (or not collected): it limits nothing
    levels = []
    for node in path_to(org, account_id):
        attached = [policies[p] for p in node["policies"] if p in policies]
        if kind == RCP and not any(p["name"] == "RCPFullAWSAccess" for p in attached):
            # AWS attaches RCPFullAWSAccess to every root, OU and account and it cannot be detached; exports that
            # list only the customer's RCPs still have it at every level.
            attached = [RCP_FULL_ACCESS, *attached]
        levels.append(
            [
                (f"{kind_label(kind)} {p['name'] or p['id']} ({p['id']}) on {node['name']}", p["document"])
                for p in attached
            ]
        )
    return levels


def kind_label(kind: str) -> str:
    return "SCP" if kind == SCP else "RCP"
