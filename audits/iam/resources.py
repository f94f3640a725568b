"""Resource-based policies in a snapshot: their bundle shape.

A bundle may carry
    "resources": [{"type": "s3:bucket", "arn": ..., "region": ..., "name": ..., "policy": {...} | null,
                   "block_public_access": {...} | null}, ...],
    "account_block_public_access": {"BlockPublicAcls": bool, "IgnorePublicAcls": bool,
                                    "BlockPublicPolicy": bool, "RestrictPublicBuckets": bool} | null
(docs/snapshot-bundle.schema.json is the full format). Role trust policies already come with IAM's export.
A "policy" of null means the policy is not known. For a KMS key that matters: every key has a key policy, and
identity policies reach a key only when it lets them (audits.iam.evaluator), so without it the evaluator answers
"depends on the key policy", never plainly allowed.
Reading them from a live account is audits/iam/resource_collect.py: an offline audit never loads boto3.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

RESOURCE_TYPES = (
    "s3:bucket",
    "kms:key",
    "sqs:queue",
    "sns:topic",
    "lambda:function",
    "secretsmanager:secret",
    "ecr:repository",
)
BLOCK_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class ResourceFormatError(ValueError):
    """The message names what is wrong and where (shown to the user as-is)."""


# --- the bundle shape ---------------------------------------------------------------------------------------------


def parse_resources(value: Any) -> list[dict]:
    """Check and normalise a bundle's "resources" list; policy documents may be JSON text (as AWS returns them)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ResourceFormatError("resources must be a list of objects")
    out = []
    for i, item in enumerate(value):
        where = f"resources[{i}]"
        if not isinstance(item, dict):
            raise ResourceFormatError(f"{where} must be an object")
        kind, arn = item.get("type"), item.get("arn")
        if kind not in RESOURCE_TYPES:
            raise ResourceFormatError(f"{where}.type must be one of {', '.join(RESOURCE_TYPES)}")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ResourceFormatError(f"{where}.arn must be an ARN")
        entry = {
            "type": kind,
            "arn": arn,
            "region": _text(item.get("region")),
            "name": _text(item.get("name")) or arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1],
            "policy": policy_document(item.get("policy"), f"{where}.policy"),
        }
        if kind == "lambda:function" and isinstance(item.get("role"), str):
            entry["role"] = item["role"]  # the execution role: code changes run with its rights
        if kind == "s3:bucket":
            entry["block_public_access"] = block_settings(
                item.get("block_public_access"), f"{where}.block_public_access"
            )
        out.append(entry)
    return out


def block_settings(value: Any, where: str) -> dict | None:
    if value is None:
        return None
    if isinstance(value, dict) and "PublicAccessBlockConfiguration" in value:
        value = value["PublicAccessBlockConfiguration"]
    if not isinstance(value, dict) or any(not isinstance(value.get(k, False), bool) for k in BLOCK_KEYS):
        raise ResourceFormatError(f"{where} must be an object of booleans ({', '.join(BLOCK_KEYS)})")
    return {k: bool(value.get(k, False)) for k in BLOCK_KEYS}


def policy_document(value: Any, where: str) -> dict | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            text = unquote(text).strip()
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise ResourceFormatError(f"{where} is not a JSON policy document") from None
    if not isinstance(value, dict):
        raise ResourceFormatError(f"{where} must be a policy document object")
    statements = value.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise ResourceFormatError(f"{where}.Statement must be a list of objects")
    return {**value, "Statement": statements}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
