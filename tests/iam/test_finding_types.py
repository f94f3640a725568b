"""Every finding the engine emits has the shape audits.iam.finding_types declares: the keys a TypedDict requires are
there, no key it does not declare is, and each value has the declared type (mypy checks the code that builds them;
this checks what the code builds from real accounts)."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, NotRequired, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from audits.iam import compliance
from audits.iam.agent import run_audit
from audits.iam.finding_types import DocLink, Finding, Fix, StatementRef
from audits.iam.snapshot import load_snapshot

HERE = Path(__file__).resolve().parent
ACCOUNTS = {
    "literature_account": HERE / "scenarios" / "literature_account.json",
    "example.json": HERE / "data" / "samples" / "cloudsplaining__examples_files_example.json",
}


def problems(value: Any, expected: Any, where: str) -> list[str]:
    """Where value is not of the type `expected` (a TypedDict, a generic alias, a union or a plain class)."""
    origin = get_origin(expected)
    if expected is Any:
        return []
    if origin is NotRequired:
        return problems(value, get_args(expected)[0], where)
    if origin in (typing.Union, types.UnionType):
        options = [problems(value, option, where) for option in get_args(expected)]
        return [] if any(not found for found in options) else min(options, key=len)
    if expected is None or expected is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if is_typeddict(expected):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a {expected.__name__} dict"]
        out = [f"{where}: no {key!r}" for key in sorted(expected.__required_keys__ - value.keys())]
        out += [f"{where}: undeclared key {key!r}" for key in sorted(value.keys() - get_type_hints(expected).keys())]
        hints = get_type_hints(expected)
        for key in value.keys() & hints.keys():
            out += problems(value[key], hints[key], f"{where}.{key}")
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        (item,) = get_args(expected)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a dict"]
        key_type, item = get_args(expected)
        return [f"{where}: key {k!r} is not {key_type.__name__}" for k in value if not isinstance(k, key_type)] + [
            p for k, v in value.items() for p in problems(v, item, f"{where}[{k!r}]")
        ]
    if expected is int and isinstance(value, bool):
        return [f"{where}: {value!r} is a bool, not an int"]
    return [] if isinstance(value, expected) else [f"{where}: {type(value).__name__}, not {expected.__name__}"]


@pytest.fixture(scope="module", params=sorted(ACCOUNTS))
def emitted(request) -> list[dict]:
    snapshot = load_snapshot(ACCOUNTS[request.param].read_bytes())
    findings: list[dict] = []

    def emit(kind: str, message: str, progress: int, payload: dict) -> None:
        if kind == "finding":
            findings.append(payload["finding"])

    run_audit(snapshot, emit, frameworks=list(compliance.FRAMEWORKS))
    assert len(findings) > 100  # both accounts hold many findings of many checks
    return findings


def test_it_emits_findings_of_the_declared_shape(emitted):
    found = [p for i, f in enumerate(emitted) for p in problems(f, Finding, f"finding[{i}] {f.get('check_id')}")]
    assert found == []


def test_it_gives_every_engine_finding_its_conditioned_flag_and_a_written_fix(emitted):
    # Optional in the type only because stored findings lack the flag and a fix may fail to be written.
    assert all(isinstance(f.get("conditioned"), bool) for f in emitted)
    written = {"summary", "cli", "policy", "terraform", "docs"}
    assert [f["check_id"] for f in emitted if not written <= f["fix"].keys()] == []


def test_it_cites_statements_in_the_declared_shape(emitted):
    cited = [ref for f in emitted for ref in f["evidence"].get("statements") or ()]
    assert cited
    assert [p for i, ref in enumerate(cited) for p in problems(ref, StatementRef, f"statements[{i}]")] == []


def test_it_checks_the_shape_it_is_given():
    fix: Fix = {"summary": "s", "cli": [], "policy": None, "terraform": "", "docs": [{"title": "t", "url": "u"}]}
    assert problems(fix, Fix, "fix") == []
    assert problems({"title": "t"}, DocLink, "doc") == ["doc: no 'url'"]
    assert problems({**fix, "extra": 1}, Fix, "fix") == ["fix: undeclared key 'extra'"]
    assert problems({**fix, "cli": "aws iam ..."}, Fix, "fix") == ["fix.cli: str, not a list"]
    assert problems({**fix, "rounds": True}, Fix, "fix") == ["fix.rounds: True is a bool, not an int"]
