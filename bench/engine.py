"""Engine benchmark: per-principal agreement with Cloudsplaining, parliament and PMapper on the literature account
(tests/iam/scenarios) and the sample exports, then `manage.py audit` against `cloudsplaining scan` on the same file
(whole processes, alternating), then run_audit alone on synthetic accounts of 1k-20k roles. Prints tables and ends
with one JSON line.

    .venv/bin/python bench/engine.py [--runs 3] [--sizes 1000,2000,5000,10000,20000] [--no-peers] [--no-pmapper]

Peers are installed (exact pins, bench/requirements-engine-peers.txt) into .venv-peers, apart from the project's
venv because their dependencies may conflict; a peer that cannot install is reported and skipped. PMapper collects
through boto3 only, so it is driven offline: this file re-runs itself in .venv-peers (`--pmapper-worker FILE`),
starts moto's ThreadedMotoServer on 127.0.0.1, loads the export into it through boto3 and builds PMapper's graph
against that endpoint (PMapper 1.1.5 needs collections.Mapping, gone since Python 3.10: the worker restores the
aliases before importing it).

A principal is "flagged" by Aegis when it carries an admin_access or privilege_escalation finding itself. The peers
judge policies, not principals: Cloudsplaining's PrivilegeEscalation findings and parliament's PRIVILEGE_ESCALATION
(community auditors) count for every principal holding the policy (own, managed, or through a group); PMapper's
count when the node is admin or can_privesc() finds a path to an admin.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT / "tests" / "iam" / "data" / "samples"
EXAMPLE = SAMPLES / "cloudsplaining__examples_files_example.json"
LITERATURE = ROOT / "tests" / "iam" / "scenarios" / "literature_account.json"
EXPECTED = ROOT / "tests" / "iam" / "scenarios" / "expected.json"
SAMPLE_EXPORTS = [
    SAMPLES / "cloudsplaining__examples_files_example.json",
    SAMPLES / "cloudsplaining__test_files_example-authz-details.json",
    SAMPLES / "cloudmapper__account-data_demo_us-east-1_iam-get-account-authorization-details.json",
]
PEERS_VENV = ROOT / ".venv-peers"
PEERS_REQUIREMENTS = ROOT / "bench" / "requirements-engine-peers.txt"
PEER_TOOLS = ("cloudsplaining", "parliament", "pmapper")
PYTHON = sys.executable
ESCALATION = {"admin_access", "privilege_escalation"}
TOOLS = ("aegis", "cloudsplaining", "parliament", "pmapper")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1000,2000,5000,10000,20000")
    parser.add_argument("--repeat", type=int, default=5, help="audits per size in the scaling series; the best counts")
    parser.add_argument("--example", default=str(EXAMPLE))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-pmapper", action="store_true")
    parser.add_argument(
        "--verify-size", type=int, default=10_000, help="roles of the account audited with and without verified fixes"
    )
    parser.add_argument("--pmapper-worker", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pmapper_worker:
        return pmapper_worker(Path(args.pmapper_worker))
    example = Path(args.example)
    summary: dict[str, float | int | str | None] = {}
    ready = set() if args.no_peers else ensure_peers()
    if args.no_pmapper:
        ready.discard("pmapper")

    print(f"# agreement per principal; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    summary.update(agreement(ready))

    print(
        f"\n# whole process, {args.runs} alternating rounds, on {example.name} ({example.stat().st_size // 1024} KB);"
        f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    env = {**os.environ, "AEGIS_DEV": "1"}
    compile_project()
    # The audit alone (its first cuts of fixes, unproven) is what the peers do; by default the CLI also proves every
    # admin and escalation fix on an account of this size, measured beside it.
    audit = [PYTHON, "manage.py", "audit", "--snapshot", str(example), "--format", "json", "--output", "/dev/null"]
    commands = {
        "manage.py audit --no-verify-fixes": [*audit, "--no-verify-fixes"],
        "manage.py audit (fixes proven)": audit,
        "audit main() without django.setup()": [
            PYTHON,
            "-c",
            "import sys; from audits.management.commands.audit import main; "
            f"sys.exit(main(['--snapshot', {str(example)!r}, '--output', '/dev/null', '--no-verify-fixes']))",
        ],
        **peer_commands(example, ready),
    }
    measured = alternating(args.runs, commands, env)
    ours = measured["manage.py audit --no-verify-fixes"]
    assert ours is not None, "our own command always runs"
    print(f"{'command':40} {'best s':>8} {'median s':>9} {'CPU s':>8} {'peak RSS MB':>12} {'wall vs ours':>13}")
    for name, result in measured.items():
        if result is None:
            print(f"{name:40} {'not run':>8}")
            continue
        print(
            f"{name:40} {result['best']:8.3f} {result['median']:9.3f} {result['cpu']:8.3f} {result['rss']:12.1f} "
            f"{result['best'] / ours['best']:12.1f}x"
        )
    summary["example_s"] = round(ours["best"], 3)
    summary["example_median_s"] = round(ours["median"], 3)
    summary["example_cpu_s"] = round(ours["cpu"], 3)
    bare = measured["audit main() without django.setup()"]
    assert bare is not None, "our own command always runs"
    summary["example_no_django_setup_s"] = round(bare["best"], 3)
    cloudsplaining = measured.get("cloudsplaining scan")
    summary["cloudsplaining_s"] = round(cloudsplaining["best"], 3) if cloudsplaining else None
    summary["speedup_vs_cloudsplaining"] = round(cloudsplaining["best"] / ours["best"], 1) if cloudsplaining else None
    summary["speedup_vs_cloudsplaining_median"] = (
        round(cloudsplaining["median"] / ours["median"], 1) if cloudsplaining else None
    )
    summary["speedup_vs_cloudsplaining_cpu"] = round(cloudsplaining["cpu"] / ours["cpu"], 1) if cloudsplaining else None
    proven = measured["manage.py audit (fixes proven)"]
    assert proven is not None, "our own command always runs"
    summary["example_verified_s"] = round(proven["best"], 3)
    summary["speedup_verified_vs_cloudsplaining"] = (
        round(cloudsplaining["best"] / proven["best"], 1) if cloudsplaining else None
    )
    parliament = measured.get("parliament")
    summary["parliament_s"] = round(parliament["best"], 3) if parliament else None

    print(
        f"\n# run_audit in-process on synthetic accounts, best of {args.repeat} per size"
        " (snapshot built and loaded first, not timed)"
    )
    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sizes = [int(s) for s in args.sizes.split(",")]
    walls, cpus = scaling_series(sizes, args.repeat)
    ratios = doubling_ratios(sizes, cpus)
    summary["roles_10k_s"] = round(walls[sizes.index(10_000)], 3) if 10_000 in sizes else None
    summary["roles_10k_cpu_s"] = round(cpus[sizes.index(10_000)], 3) if 10_000 in sizes else None
    summary["doubling_ratio_max"] = round(max(ratios), 2) if ratios else None
    print(f"\n# verified fixes and what-if on a synthetic account of {args.verify_size} roles (CPU time)")
    summary.update(verification(args.verify_size))
    summary["peak_rss_mb"] = round(ours["rss"], 1)
    summary["bench_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print()
    print(json.dumps(summary))
    return 0


# --- whole-process timing -------------------------------------------------------------------------------------------


def run_once(command: list[str], env: dict) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, the child's own peak RSS in MB (wait4 gives per-child usage), exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr_tail = proc.stderr.read()[-2000:] if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: findings at or above a threshold, or a peer that found issues
        print(f"  ! {' '.join(command[:3])}... exited {proc.returncode}: {stderr_tail.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def compile_project() -> None:
    """The peers run from the bytecode pip compiled when it installed them; ours is compiled here alike, so neither
    side times compiling its own source on every start (this machine sets PYTHONDONTWRITEBYTECODE, so imports never
    write it: measured, that was 40 % of our whole-process time on example.json)."""
    import compileall

    for package in ("audits", "aegis_site"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def alternating(runs: int, commands: dict[str, list[str] | None], env: dict) -> dict[str, dict | None]:
    """Round-robin over the commands, so a burst of load on the shared machine hits every tool alike; best and
    median wall time, best CPU time (the steadier one here), highest peak RSS."""
    ready = {name: cmd for name, cmd in commands.items() if cmd}
    samples: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in ready}
    for _ in range(runs):
        for name, cmd in ready.items():
            samples[name].append(run_once(cmd, env))
    out: dict[str, dict | None] = {name: None for name in commands}
    for name, results in samples.items():
        out[name] = {
            "best": min(r[0] for r in results),
            "median": statistics.median(r[0] for r in results),
            "cpu": min(r[1] for r in results),
            "rss": max(r[2] for r in results),
        }
    return out


def peer_commands(example: Path, ready: set[str]) -> dict[str, list[str] | None]:
    bin_dir = PEERS_VENV / "bin"
    out_dir = Path(tempfile.mkdtemp(prefix="aegis-bench-"))
    atexit.register(shutil.rmtree, out_dir, True)  # cloudsplaining writes ~20 MB of report per scan
    commands: dict[str, list[str] | None] = {}
    for name, tool, command in (
        (
            "cloudsplaining scan",
            "cloudsplaining",
            ["scan", "--input-file", str(example), "--output", str(out_dir), "--skip-open-report"],
        ),
        ("parliament", "parliament", ["--auth-details-file", str(example)]),
    ):
        exe = bin_dir / tool
        commands[name] = [str(exe), *command] if tool in ready and exe.exists() else None
    return commands


def ensure_peers() -> set[str]:
    """Install the pinned peers into their own venv; report, and go on without, any that does not install."""
    if not (PEERS_VENV / "bin" / "python").exists():
        print(f"  creating {PEERS_VENV}")
        subprocess.run([PYTHON, "-m", "venv", str(PEERS_VENV)], check=True)
    if not all((PEERS_VENV / "bin" / tool).exists() for tool in PEER_TOOLS):
        pip = [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        proc = subprocess.run([*pip, "-r", str(PEERS_REQUIREMENTS)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  ! installing {PEERS_REQUIREMENTS.name} failed: {proc.stderr.strip()[-500:]}")
    ready = {tool for tool in PEER_TOOLS if (PEERS_VENV / "bin" / tool).exists()}
    for tool in sorted(set(PEER_TOOLS) - ready):
        print(f"  ! {tool} is not installed in {PEERS_VENV}; skipped")
    return ready


# --- agreement ------------------------------------------------------------------------------------------------------


def agreement(ready: set[str]) -> dict[str, float | int | str | None]:
    """Per-principal verdicts of every tool on the literature account (against expected.json) and the samples."""
    expected = json.loads(EXPECTED.read_text())["principals"]
    summary: dict[str, float | int | str | None] = {}
    for path in [LITERATURE, *SAMPLE_EXPORTS]:
        principals = _principals(path)
        print(f"\n## {path.name}: {len(principals)} principals")  # before the peers run: their notes belong here
        verdicts: dict[str, dict[str, bool] | None] = {"aegis": aegis_verdicts(path)}
        for tool, judge in (
            ("cloudsplaining", cloudsplaining_verdicts),
            ("parliament", parliament_verdicts),
            ("pmapper", pmapper_verdicts),
        ):
            verdicts[tool] = judge(path) if tool in ready else None
        if path == LITERATURE:
            summary.update(_literature_table(principals, expected, verdicts))
        else:
            summary.update(_sample_table(path, principals, verdicts))
    return summary


def _principals(path: Path) -> list[str]:
    details = json.loads(path.read_text())
    return [p["Arn"] for p in details.get("UserDetailList", []) + details.get("RoleDetailList", [])]


def _cell(verdicts: dict[str, bool] | None, arn: str, expect: str | None = None) -> str:
    if verdicts is None:
        return "n/a"
    flagged = verdicts.get(arn, False)
    wrong = (expect == "positive" and not flagged) or (expect == "near-miss" and flagged)
    return ("flag" if flagged else "quiet") + (" !" if wrong else "")


def _literature_table(principals: list[str], expected: dict, verdicts: dict) -> dict:
    print(
        "# expected: positive = must be flagged, near-miss = must stay quiet, indirect = not scored; "
        "'!' marks a wrong verdict"
    )
    print(f"{'scenario':62} {'expected':10} " + " ".join(f"{t:>14}" for t in TOOLS))
    for arn in principals:
        expect = expected.get(arn, {}).get("expect", "?")
        print(
            f"{arn.split(':', 5)[5][:62]:62} {expect:10} "
            + " ".join(f"{_cell(verdicts[t], arn, expect):>14}" for t in TOOLS)
        )
    summary: dict = {}
    positives = [a for a in principals if expected.get(a, {}).get("expect") == "positive"]
    near = [a for a in principals if expected.get(a, {}).get("expect") == "near-miss"]
    print(f"\n{'tool':16} {'positives flagged':>18} {'near-misses quiet':>18} {'agreement':>10}")
    for tool in TOOLS:
        judged = verdicts[tool]
        if judged is None:
            print(f"{tool:16} {'not run':>18}")
            summary[f"literature_{tool}_agreement"] = None
            continue
        hit = sum(judged.get(a, False) for a in positives)
        quiet = sum(not judged.get(a, False) for a in near)
        share = (hit + quiet) / (len(positives) + len(near))
        print(f"{tool:16} {hit:>10}/{len(positives):<7} {quiet:>10}/{len(near):<7} {share:>9.1%}")
        summary[f"literature_{tool}_positives_flagged"] = hit
        summary[f"literature_{tool}_near_misses_quiet"] = quiet
        summary[f"literature_{tool}_agreement"] = round(share, 3)
    summary["literature_positives"] = len(positives)
    summary["literature_near_misses"] = len(near)
    return summary


def _sample_table(path: Path, principals: list[str], verdicts: dict) -> dict:
    """No ground truth here: how often each peer agrees with Aegis, principal by principal."""
    print(f"{'principal':62} " + " ".join(f"{t:>14}" for t in TOOLS))
    for arn in principals:
        print(f"{arn.split(':', 5)[5][:62]:62} " + " ".join(f"{_cell(verdicts[t], arn):>14}" for t in TOOLS))
    key = path.stem.split("__")[0] + ("_test" if "test_files" in path.name else "")
    summary: dict = {f"{key}_aegis_flagged": sum(verdicts["aegis"].get(a, False) for a in principals)}
    for tool in TOOLS[1:]:
        if verdicts[tool] is None:
            continue
        same = sum(verdicts[tool].get(a, False) == verdicts["aegis"].get(a, False) for a in principals)
        print(f"  {tool} agrees with aegis on {same}/{len(principals)}")
        summary[f"{key}_{tool}_agrees_with_aegis"] = round(same / len(principals), 3) if principals else None
    return summary


def aegis_verdicts(path: Path) -> dict[str, bool]:
    from audits.iam import run_audit
    from audits.iam.snapshot import load_snapshot

    flagged: dict[str, bool] = {}

    def emit(kind: str, message: str, progress: int | None = None, payload: dict | None = None) -> None:
        finding = (payload or {}).get("finding") if kind == "finding" else None
        if finding and finding["category"] in ESCALATION:
            flagged[finding["principal_arn"]] = True

    run_audit(load_snapshot(path.read_text()), emit)
    return flagged


def _held(path: Path) -> dict[str, set[str]]:
    """Principal ARN -> what a policy-level finding can be filed under: the principal itself, its managed policy
    ARNs, its groups' ARNs and names (parliament files inline findings under the principal's or group's ARN)."""
    details = json.loads(path.read_text())
    groups = {g["GroupName"]: g for g in details.get("GroupDetailList", [])}
    held: dict[str, set[str]] = {}
    for p in details.get("UserDetailList", []) + details.get("RoleDetailList", []):
        keys = {p["Arn"], *(a["PolicyArn"] for a in p.get("AttachedManagedPolicies", []))}
        for name in p.get("GroupList", []):
            group = groups.get(name, {})
            keys |= {group.get("Arn", ""), *(a["PolicyArn"] for a in group.get("AttachedManagedPolicies", []))}
        held[p["Arn"]] = keys - {""}
    return held


def cloudsplaining_verdicts(path: Path) -> dict[str, bool] | None:
    with tempfile.TemporaryDirectory(prefix="aegis-bench-cs-") as out:
        proc = subprocess.run(
            [
                str(PEERS_VENV / "bin" / "cloudsplaining"),
                "scan",
                "--input-file",
                str(path),
                "--output",
                out,
                "--skip-open-report",
            ],
            capture_output=True,
            text=True,
        )
        results = next(Path(out).glob("iam-results-*.json"), None)
        if results is None:
            print(f"  ! cloudsplaining wrote no results on {path.name}: {proc.stderr.strip()[-300:]}")
            return None
        data = json.loads(results.read_text())
    risky = {
        pid
        for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies")
        for pid, policy in data.get(kind, {}).items()
        if policy.get("PrivilegeEscalation", {}).get("findings")
    }

    def holds_risky(entry: dict) -> bool:
        ids = {
            *entry.get("customer_managed_policies", {}),
            *entry.get("aws_managed_policies", {}),
            *entry.get("inline_policies", {}),
        }
        return bool(ids & risky) or any(holds_risky(g) for g in entry.get("groups", {}).values())

    return {entry["arn"]: holds_risky(entry) for kind in ("users", "roles") for entry in data.get(kind, {}).values()}


def parliament_verdicts(path: Path) -> dict[str, bool] | None:
    proc = subprocess.run(
        [
            str(PEERS_VENV / "bin" / "parliament"),
            "--auth-details-file",
            str(path),
            "--include-community-auditors",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    try:
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError:
        print(f"  ! parliament printed no JSON on {path.name}: {proc.stderr.strip()[-300:]}")
        return None
    filed = {r.get("location", {}).get("filepath") for r in rows if r.get("issue") == "PRIVILEGE_ESCALATION"}
    return {arn: bool(keys & filed) for arn, keys in _held(path).items()}


def pmapper_verdicts(path: Path) -> dict[str, bool] | None:
    try:
        proc = subprocess.run(
            [str(PEERS_VENV / "bin" / "python"), str(Path(__file__).resolve()), "--pmapper-worker", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        print(f"  ! PMapper did not finish within 900 s on {path.name}; skipped")
        return None
    last = proc.stdout.strip().splitlines()[-1:] or [""]
    try:
        result = json.loads(last[0])
    except json.JSONDecodeError:
        print(f"  ! PMapper could not be driven offline on {path.name}: {proc.stderr.strip()[-600:]}")
        return None
    if result.get("skipped"):
        print(f"  ! moto refused {len(result['skipped'])} load call(s), first: {result['skipped'][0]}")
    return {arn: verdict != "none" for arn, verdict in result["nodes"].items()}


# --- PMapper, offline (runs inside .venv-peers) ---------------------------------------------------------------------


def pmapper_worker(path: Path) -> int:
    """Load the export into a moto server on 127.0.0.1 through boto3, build PMapper's graph against it and print
    {"nodes": {arn: "admin" | "privesc" | "none"}, "skipped": [...]} as one JSON line."""
    import collections
    import collections.abc
    import logging

    for name in ("Mapping", "MutableMapping", "Sequence", "Iterable"):  # removed from collections in Python 3.10
        setattr(collections, name, getattr(collections.abc, name))
    logging.disable(logging.WARNING)
    from bench._harness import free_port

    details = json.loads(path.read_text())
    arns = [p["Arn"] for p in details.get("UserDetailList", []) + details.get("RoleDetailList", [])]
    account = arns[0].split(":")[4] if arns else "123456789012"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update(
        MOTO_ACCOUNT_ID=account,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
    )
    os.environ.pop("AWS_PROFILE", None)
    import botocore.session
    from moto.server import ThreadedMotoServer
    from principalmapper.graphing import gathering
    from principalmapper.graphing.edge_identification import checker_map
    from principalmapper.querying.presets.privesc import can_privesc

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        session = botocore.session.Session()
        skipped = _load_into_moto(session.create_client("iam", endpoint_url=url, region_name="us-east-1"), details)
        # moto's GetAccountAuthorizationDetails leaves out PolicyName (PMapper needs it) and lists all ~1,400 AWS
        # managed policies: PMapper reads that one call from the export itself, every other call goes to moto.
        session.register(
            "before-call.iam.GetAccountAuthorizationDetails",
            lambda **_: (_Ok(), {**_as_sent(details), "IsTruncated": False}),
        )
        services = ["autoscaling", "cloudformation", "codebuild", "ec2", "iam", "lambda", "sagemaker", "ssm", "sts"]
        client_args = {name: {"endpoint_url": url} for name in [*services, "s3", "sns", "sqs", "kms", "secretsmanager"]}
        graph = gathering.create_graph(
            session, [s for s in services if s in checker_map], ["us-east-1"], None, None, client_args
        )
        nodes = {}
        for node in graph.nodes:
            nodes[node.arn] = "admin" if node.is_admin else "privesc" if can_privesc(graph, node)[0] else "none"
    finally:
        server.stop()
    print(json.dumps({"nodes": nodes, "skipped": skipped}))
    return 0


class _Ok:
    """The HTTP response botocore expects beside a short-circuited result."""

    status_code = 200
    headers: dict = {}


def _load_into_moto(iam, details: dict) -> list[str]:
    """Create the export's policies, groups, users and roles through the IAM API; return what moto refused."""
    skipped: list[str] = []

    def attempt(what: str, call, **kwargs) -> None:
        try:
            call(**kwargs)
        except Exception as error:  # moto refusing one document must not stop the others
            skipped.append(f"{what}: {type(error).__name__}: {str(error)[:160]}")

    for policy in details.get("Policies", []):
        if policy["Arn"].startswith("arn:aws:iam::aws:"):
            continue  # AWS managed: moto ships them
        versions = sorted(policy.get("PolicyVersionList", []), key=lambda v: v["VersionId"])
        if not versions:
            continue
        attempt(
            f"policy {policy['PolicyName']}",
            iam.create_policy,
            PolicyName=policy["PolicyName"],
            Path=policy.get("Path", "/"),
            PolicyDocument=json.dumps(versions[0]["Document"]),
        )
        for version in versions[1:]:
            attempt(
                f"policy version {policy['PolicyName']}",
                iam.create_policy_version,
                PolicyArn=policy["Arn"],
                PolicyDocument=json.dumps(version["Document"]),
                SetAsDefault=bool(version.get("IsDefaultVersion")),
            )
    for group in details.get("GroupDetailList", []):
        name = group["GroupName"]
        attempt(f"group {name}", iam.create_group, GroupName=name, Path=group.get("Path", "/"))
        for inline in group.get("GroupPolicyList", []):
            attempt(
                f"group policy {name}",
                iam.put_group_policy,
                GroupName=name,
                PolicyName=inline["PolicyName"],
                PolicyDocument=json.dumps(inline["PolicyDocument"]),
            )
        for attached in group.get("AttachedManagedPolicies", []):
            attempt(f"group attach {name}", iam.attach_group_policy, GroupName=name, PolicyArn=attached["PolicyArn"])
    for user in details.get("UserDetailList", []):
        name = user["UserName"]
        attempt(f"user {name}", iam.create_user, UserName=name, Path=user.get("Path", "/"), **_boundary(user))
        for inline in user.get("UserPolicyList", []):
            attempt(
                f"user policy {name}",
                iam.put_user_policy,
                UserName=name,
                PolicyName=inline["PolicyName"],
                PolicyDocument=json.dumps(inline["PolicyDocument"]),
            )
        for attached in user.get("AttachedManagedPolicies", []):
            attempt(f"user attach {name}", iam.attach_user_policy, UserName=name, PolicyArn=attached["PolicyArn"])
        for group in user.get("GroupList", []):
            attempt(f"membership {name}", iam.add_user_to_group, UserName=name, GroupName=group)
    for role in details.get("RoleDetailList", []):
        name = role["RoleName"]
        attempt(
            f"role {name}",
            iam.create_role,
            RoleName=name,
            Path=role.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(role.get("AssumeRolePolicyDocument", {})),
            **_boundary(role),
        )
        for inline in role.get("RolePolicyList", []):
            attempt(
                f"role policy {name}",
                iam.put_role_policy,
                RoleName=name,
                PolicyName=inline["PolicyName"],
                PolicyDocument=json.dumps(inline["PolicyDocument"]),
            )
        for attached in role.get("AttachedManagedPolicies", []):
            attempt(f"role attach {name}", iam.attach_role_policy, RoleName=name, PolicyArn=attached["PolicyArn"])
        for profile in role.get("InstanceProfileList", []):
            attempt(
                f"instance profile {name}",
                iam.create_instance_profile,
                InstanceProfileName=profile["InstanceProfileName"],
            )
            attempt(
                f"instance profile {name}",
                iam.add_role_to_instance_profile,
                InstanceProfileName=profile["InstanceProfileName"],
                RoleName=name,
            )
    return skipped


def _as_sent(value):
    """The export with its policy documents URL-quoted as IAM's API sends them (botocore unquotes them after the
    call)."""
    from urllib.parse import quote

    if isinstance(value, list):
        return [_as_sent(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: quote(json.dumps(item))
        if key in ("Document", "PolicyDocument", "AssumeRolePolicyDocument") and isinstance(item, dict)
        else _as_sent(item)
        for key, item in value.items()
    }


def _boundary(principal: dict) -> dict:
    # Set at creation: moto implements no Put{User,Role}PermissionsBoundary.
    arn = principal.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    return {"PermissionsBoundary": arn} if arn else {}


# --- scaling --------------------------------------------------------------------------------------------------------


def scaling_series(sizes: list[int], repeat: int = 3) -> tuple[list[float], list[float]]:
    """Best of `repeat` audits per size (a fresh snapshot each time): on a shared machine the other tenants only
    ever add time, so the best run is the one that measured the code."""
    from audits.iam import run_audit
    from audits.iam.snapshot import load_snapshot

    print(
        f"{'roles':>7} {'users':>6} {'findings':>9} {'wall s':>8} {'CPU s':>8} {'CPU ms/role':>12} {'all walls s':>20}"
    )
    walls, cpus = [], []
    for n in sizes:
        bundle = synthetic_account(n, seed=n)
        runs: list[tuple[float, float]] = []
        for _ in range(repeat):
            snapshot = load_snapshot(bundle)
            count = 0

            def emit(kind: str, message: str, progress: int | None = None, payload: dict | None = None) -> None:
                nonlocal count
                count += kind == "finding"

            gc.collect()
            start, cpu_start = time.perf_counter(), time.process_time()
            run_audit(snapshot, emit)
            runs.append((time.perf_counter() - start, time.process_time() - cpu_start))
            del snapshot
        elapsed, cpu = min(runs)
        walls.append(elapsed)
        cpus.append(cpu)  # the scaling ratio uses CPU time: it should not depend on what else the machine runs
        shown = " ".join(f"{w:.2f}" for w, _ in runs)
        print(
            f"{n:7d} {len(bundle['authorization_details']['UserDetailList']):6d} {count:9d} {elapsed:8.3f} "
            f"{cpu:8.3f} {cpu / n * 1000:12.3f} {shown:>20}"
        )
    return walls, cpus


def verification(n_roles: int) -> dict[str, float | int]:
    """run_audit with and without verify_fixes (every admin and escalation fix applied and the account analysed
    again, audits.iam.incremental), and whatif_report.compare with a 20-operation change set."""
    from audits.iam import run_audit
    from audits.iam.snapshot import load_snapshot
    from audits.iam.whatif_report import compare

    bundle = synthetic_account(n_roles, seed=7)
    times = {}
    fixes: list[dict] = []

    def emit(kind: str, message: str, progress: int | None = None, payload: dict | None = None) -> None:
        if kind == "finding" and payload and "fix" in payload["finding"]:
            fixes.append(payload["finding"]["fix"])

    for verify in (False, True):
        snapshot = load_snapshot(bundle)
        fixes.clear()
        gc.collect()
        cpu_start = time.process_time()
        run_audit(snapshot, emit, verify_fixes=verify)
        times[verify] = time.process_time() - cpu_start
    verified = sum(bool(f.get("verified")) for f in fixes)
    ratio = times[True] / times[False]
    print(f"audit without verification {times[False]:.2f} s, with {times[True]:.2f} s: x{ratio:.2f}; {verified} proven")
    snapshot = load_snapshot(bundle)
    ops = whatif_ops(snapshot)
    gc.collect()
    cpu_start = time.process_time()
    report = compare(snapshot, ops)
    whatif_s = time.process_time() - cpu_start
    print(f"whatif, {len(ops)} operations: {whatif_s:.2f} s ({len(report.added)} added, {len(report.removed)} removed)")
    return {
        "verify_roles": n_roles,
        "audit_s": round(times[False], 3),
        "audit_verified_s": round(times[True], 3),
        "verify_ratio": round(ratio, 2),
        "fixes_verified": verified,
        "whatif_ops": len(ops),
        "whatif_s": round(whatif_s, 3),
    }


def whatif_ops(snapshot) -> list[dict]:
    """20 realistic operations: fences and detachments of what escalates or is admin, policy attachments, a new
    default version, a trust change and group membership."""
    roles = [r for r in snapshot.roles if r.get("AttachedManagedPolicies")]
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    holders = [r for r in snapshot.roles if any(a["PolicyArn"] == admin for a in r["AttachedManagedPolicies"])]
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}]}
    ops: list[dict] = [
        {"Operation": "DetachRolePolicy", "RoleName": r["RoleName"], "PolicyArn": admin} for r in holders[:5]
    ]
    ops += [
        {"Operation": "PutRolePolicy", "RoleName": r["RoleName"], "PolicyName": "aegis-deny-escalation",
         "PolicyDocument": deny}
        for r in roles[:6]
    ]  # fmt: skip
    ops += [
        {"Operation": "AttachRolePolicy", "RoleName": r["RoleName"], "PolicyArn": p}
        for r, p in zip(roles[6:10], [p["Arn"] for p in snapshot.policies[:4]], strict=True)
    ]
    read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    ops.append({"Operation": "CreatePolicyVersion", "PolicyArn": snapshot.policies[0]["Arn"], "PolicyDocument": read,
                "SetAsDefault": True})  # fmt: skip
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": snapshot.users[0]["Arn"]}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    ops.append({"Operation": "UpdateAssumeRolePolicy", "RoleName": roles[10]["RoleName"], "PolicyDocument": trust})
    ops += [
        {"Operation": "AddUserToGroup", "UserName": u["UserName"], "GroupName": snapshot.groups[0]["GroupName"]}
        for u in snapshot.users[1:3]
    ]
    ops.append({"Operation": "RemoveUserFromGroup", "UserName": snapshot.users[3]["UserName"],
                "GroupName": (snapshot.users[3].get("GroupList") or [snapshot.groups[1]["GroupName"]])[0]})  # fmt: skip
    return ops[:20]


def doubling_ratios(sizes: list[int], times: list[float]) -> list[float]:
    """CPU-time ratio per doubling of size between neighbours: 2.0 is linear, 4.0 quadratic."""
    ratios = []
    for (n1, t1), (n2, t2) in zip(zip(sizes, times, strict=True), zip(sizes[1:], times[1:], strict=True), strict=False):
        ratio = (t2 / t1) ** (math.log(2) / math.log(n2 / n1))
        ratios.append(ratio)
        print(f"  {n1} -> {n2} roles: x{t2 / t1:.2f} time, {ratio:.2f} per doubling")
    return ratios


ACCOUNT = "123456789012"
SERVICES = ["lambda", "ec2", "ecs-tasks", "glue", "states", "sagemaker", "codebuild", "events"]
TEAMS = ["payments", "search", "web", "data", "ml", "platform", "mobile", "growth", "billing", "identity"]


def synthetic_account(n_roles: int, *, seed: int) -> dict:
    """A bundle with n_roles roles, n_roles/10 users and a few groups; policies mix scoped grants (most), broad
    service wildcards, PassRole pairs, conditioned grants, Deny statements and a few administrators."""
    rng = random.Random(seed)
    arn = f"arn:aws:iam::{ACCOUNT}"
    managed = [_managed_policy(i, rng) for i in range(60)]
    managed.append(
        {
            "PolicyName": "AdministratorAccess",
            "Arn": "arn:aws:iam::aws:policy/AdministratorAccess",
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "Document": {"Version": "2012-10-17", "Statement": [_allow("*", "*")]},
                }
            ],
        }
    )
    roles = []
    for i in range(n_roles):
        team = rng.choice(TEAMS)
        name = f"{team}-{rng.choice(SERVICES)}-{i}"
        attached = rng.sample(managed[:60], rng.randint(0, 3))
        if rng.random() < 0.01:
            attached.append(managed[60])
        roles.append(
            {
                "RoleName": name,
                "RoleId": f"AROA{i:017d}",
                "Arn": f"{arn}:role/{name}",
                "Path": "/",
                "CreateDate": "2024-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": _trust(rng, i),
                "RolePolicyList": [
                    {"PolicyName": f"inline-{k}", "PolicyDocument": _document(rng, team)}
                    for k in range(rng.randint(0, 2))
                ],
                "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in attached],
                "InstanceProfileList": [],
                "Tags": [],
                "RoleLastUsed": _last_used(rng),
            }
        )
    groups = [
        {
            "GroupName": team,
            "GroupId": f"AGPA{i:017d}",
            "Arn": f"{arn}:group/{team}",
            "Path": "/",
            "GroupPolicyList": [{"PolicyName": "team", "PolicyDocument": _document(rng, team)}],
            "AttachedManagedPolicies": [
                {"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in rng.sample(managed[:60], 2)
            ],
        }
        for i, team in enumerate(TEAMS)
    ]
    users = []
    for i in range(max(1, n_roles // 10)):
        name = f"user{i}"
        users.append(
            {
                "UserName": name,
                "UserId": f"AIDA{i:017d}",
                "Arn": f"{arn}:user/{name}",
                "Path": "/",
                "GroupList": rng.sample(TEAMS, rng.randint(0, 2)),
                "AttachedManagedPolicies": [],
                "UserPolicyList": [{"PolicyName": "own", "PolicyDocument": _document(rng, "web")}]
                if rng.random() < 0.2
                else [],
                "Tags": [],
            }
        )
    return {
        "account_id": ACCOUNT,
        "collected_at": "2026-11-20T00:00:00Z",
        "authorization_details": {
            "UserDetailList": users,
            "GroupDetailList": groups,
            "RoleDetailList": roles,
            "Policies": managed,
        },
    }


def _last_used(rng: random.Random) -> dict:
    # One role in five has never been used; the rest at some point this year.
    return {"LastUsedDate": f"2026-{rng.randint(1, 11):02d}-01T00:00:00Z"} if rng.random() < 0.8 else {}


def _managed_policy(i: int, rng: random.Random) -> dict:
    name = f"shared-{i}"
    return {
        "PolicyName": name,
        "PolicyId": f"ANPA{i:017d}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "DefaultVersionId": "v1",
        "AttachmentCount": 1,
        "PolicyVersionList": [
            {"VersionId": "v1", "IsDefaultVersion": True, "Document": _document(rng, rng.choice(TEAMS))}
        ],
    }


def _allow(action: str | list[str], resource: str | list[str], **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _document(rng: random.Random, team: str) -> dict:
    bucket, table = f"arn:aws:s3:::acme-{team}", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{team}-*"
    pool = [
        _allow(["s3:GetObject", "s3:PutObject"], f"{bucket}/*"),
        _allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], table),
        _allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/{team}/*"),
        _allow("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:{team}-queue"),
        _allow(["ec2:Describe*", "cloudwatch:GetMetricData"], "*"),
        _allow("s3:*", "*"),
        _allow(
            ["iam:PassRole"],
            f"arn:aws:iam::{ACCOUNT}:role/{team}-*",
            Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        _allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"], "*"),
        _allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{team}/*"),
        _allow(
            ["ec2:RunInstances", "ec2:TerminateInstances"],
            "*",
            Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
        ),
        {"Effect": "Deny", "Action": ["iam:*", "organizations:*"], "Resource": "*"},
        _allow(["kms:Decrypt"], f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"),
    ]
    weights = [10, 10, 10, 6, 6, 1, 3, 0.5, 4, 1, 2, 4]
    return {"Version": "2012-10-17", "Statement": rng.choices(pool, weights=weights, k=rng.randint(1, 4))}


def _trust(rng: random.Random, i: int) -> dict:
    roll = rng.random()
    if roll < 0.8:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": f"{rng.choice(SERVICES)}.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    elif roll < 0.95:
        statement = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{rng.randint(10**11, 10**12 - 1)}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{i}"}},
        }
    else:
        own = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        statement = {"Effect": "Allow", "Principal": own, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


if __name__ == "__main__":
    sys.exit(main())
