"""Engine benchmark: `manage.py audit` against cloudsplaining and parliament on the same file, then run_audit alone
on synthetic accounts of 1k-10k roles. Prints a table and ends with one JSON line.

    .venv/bin/python bench/engine.py [--runs 3] [--sizes 1000,2000,5000,10000] [--no-peers]

Peers are installed (exact pins, bench/requirements-engine-peers.txt) into .venv-peers, apart from the project's
venv because their dependencies may conflict; a peer that cannot install is reported and skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "tests" / "iam" / "data" / "samples" / "cloudsplaining__examples_files_example.json"
PEERS_VENV = ROOT / ".venv-peers"
PEERS_REQUIREMENTS = ROOT / "bench" / "requirements-engine-peers.txt"
PYTHON = sys.executable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1000,2000,5000,10000")
    parser.add_argument("--example", default=str(EXAMPLE))
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    example = Path(args.example)
    summary: dict[str, float | None] = {}

    print(f"# whole process, best of {args.runs}, on {example.name} ({example.stat().st_size // 1024} KB); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    env = {**os.environ, "AEGIS_DEV": "1"}
    ours = best_of(args.runs, [PYTHON, "manage.py", "audit", "--snapshot", str(example), "--format", "json",
                               "--output", "/dev/null"], env)
    direct = best_of(args.runs, [PYTHON, "-c", "import sys; from audits.management.commands.audit import main; "
                                 f"sys.exit(main(['--snapshot', {str(example)!r}, '--output', '/dev/null']))"], env)
    rows = [("manage.py audit", ours), ("audit main() without django.setup()", direct)]
    peers = {} if args.no_peers else peer_commands(example)
    for name, command in peers.items():
        rows.append((name, best_of(args.runs, command, env) if command else None))
    print(f"{'command':40} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'wall vs ours':>13}")
    for name, measured in rows:
        if measured is None:
            print(f"{name:40} {'not run':>8}")
            continue
        seconds, cpu, rss = measured
        print(f"{name:40} {seconds:8.3f} {cpu:8.3f} {rss:12.1f} {seconds / ours[0]:12.1f}x")
    measured = dict(rows)
    summary["example_s"] = round(ours[0], 3)
    summary["example_cpu_s"] = round(ours[1], 3)
    summary["example_no_django_setup_s"] = round(direct[0], 3)
    cloudsplaining = measured.get("cloudsplaining scan")
    summary["cloudsplaining_s"] = round(cloudsplaining[0], 3) if cloudsplaining else None
    summary["speedup_vs_cloudsplaining"] = round(cloudsplaining[0] / ours[0], 1) if cloudsplaining else None
    summary["speedup_vs_cloudsplaining_cpu"] = round(cloudsplaining[1] / ours[1], 1) if cloudsplaining else None
    parliament = measured.get("parliament")
    summary["parliament_s"] = round(parliament[0], 3) if parliament else None

    print("\n# run_audit in-process on synthetic accounts (snapshot built and loaded first, not timed)")
    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sizes = [int(s) for s in args.sizes.split(",")]
    walls, cpus = scaling_series(sizes)
    ratios = doubling_ratios(sizes, cpus)
    summary["roles_10k_s"] = round(walls[sizes.index(10_000)], 3) if 10_000 in sizes else None
    summary["roles_10k_cpu_s"] = round(cpus[sizes.index(10_000)], 3) if 10_000 in sizes else None
    summary["doubling_ratio_max"] = round(max(ratios), 2) if ratios else None
    summary["peak_rss_mb"] = round(ours[2], 1)
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


def best_of(runs: int, command: list[str], env: dict) -> tuple[float, float, float]:
    """Best wall and CPU time (CPU time is the steadier one on a shared machine), highest peak RSS."""
    results = [run_once(command, env) for _ in range(runs)]
    return min(r[0] for r in results), min(r[1] for r in results), max(r[2] for r in results)


def peer_commands(example: Path) -> dict[str, list[str] | None]:
    ready = ensure_peers()
    bin_dir = PEERS_VENV / "bin"
    out_dir = Path(tempfile.mkdtemp(prefix="aegis-bench-"))
    commands: dict[str, list[str] | None] = {}
    for name, tool, command in (
        ("cloudsplaining scan", "cloudsplaining",
         ["scan", "--input-file", str(example), "--output", str(out_dir), "--skip-open-report"]),
        ("parliament", "parliament", ["--auth-details-file", str(example)]),
    ):
        exe = bin_dir / tool
        if tool in ready and exe.exists():
            commands[name] = [str(exe), *command]
        else:
            print(f"  ! {tool} is not installed in {PEERS_VENV}; skipped")
            commands[name] = None
    return commands


def ensure_peers() -> set[str]:
    """Install each pinned peer on its own, so one that fails to install does not take the other down."""
    if not (PEERS_VENV / "bin" / "python").exists():
        print(f"  creating {PEERS_VENV}")
        subprocess.run([PYTHON, "-m", "venv", str(PEERS_VENV)], check=True)
    pip = [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    ready = set()
    for tool in ("cloudsplaining", "parliament"):
        if (PEERS_VENV / "bin" / tool).exists():
            ready.add(tool)
    if ready == {"cloudsplaining", "parliament"}:
        return ready
    proc = subprocess.run([*pip, "-r", str(PEERS_REQUIREMENTS)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  ! installing {PEERS_REQUIREMENTS.name} failed: {proc.stderr.strip()[-500:]}")
    return {tool for tool in ("cloudsplaining", "parliament") if (PEERS_VENV / "bin" / tool).exists()}


# --- scaling --------------------------------------------------------------------------------------------------------


def scaling_series(sizes: list[int]) -> tuple[list[float], list[float]]:
    from audits.iam import run_audit
    from audits.iam.snapshot import load_snapshot

    print(f"{'roles':>7} {'users':>6} {'findings':>9} {'wall s':>8} {'CPU s':>8} {'CPU ms/role':>12}")
    walls, cpus = [], []
    for n in sizes:
        snapshot = load_snapshot(synthetic_account(n, seed=n))
        count = 0

        def emit(kind: str, message: str, progress: int | None = None, payload: dict | None = None) -> None:
            nonlocal count
            count += kind == "finding"

        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        run_audit(snapshot, emit)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        walls.append(elapsed)
        cpus.append(cpu)  # the scaling ratio uses CPU time: it should not depend on what else the machine runs
        print(f"{n:7d} {len(snapshot.users):6d} {count:9d} {elapsed:8.3f} {cpu:8.3f} {cpu / n * 1000:12.3f}")
    return walls, cpus


def doubling_ratios(sizes: list[int], times: list[float]) -> list[float]:
    """CPU-time ratio per doubling of size between neighbours: 2.0 is linear, 4.0 quadratic."""
    ratios = []
    for (n1, t1), (n2, t2) in zip(zip(sizes, times, strict=True), zip(sizes[1:], times[1:], strict=True),
                                  strict=False):
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
    managed.append({"PolicyName": "AdministratorAccess", "Arn": "arn:aws:iam::aws:policy/AdministratorAccess",
                    "DefaultVersionId": "v1", "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True,
                    "Document": {"Version": "2012-10-17", "Statement": [_allow("*", "*")]}}]})
    roles = []
    for i in range(n_roles):
        team = rng.choice(TEAMS)
        name = f"{team}-{rng.choice(SERVICES)}-{i}"
        attached = rng.sample(managed[:60], rng.randint(0, 3))
        if rng.random() < 0.01:
            attached.append(managed[60])
        roles.append({
            "RoleName": name, "RoleId": f"AROA{i:017d}", "Arn": f"{arn}:role/{name}", "Path": "/",
            "CreateDate": "2024-01-01T00:00:00Z", "AssumeRolePolicyDocument": _trust(rng, i),
            "RolePolicyList": [{"PolicyName": f"inline-{k}", "PolicyDocument": _document(rng, team)}
                               for k in range(rng.randint(0, 2))],
            "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in attached],
            "InstanceProfileList": [], "Tags": [],
            "RoleLastUsed": _last_used(rng),
        })
    groups = [{"GroupName": team, "GroupId": f"AGPA{i:017d}", "Arn": f"{arn}:group/{team}", "Path": "/",
               "GroupPolicyList": [{"PolicyName": "team", "PolicyDocument": _document(rng, team)}],
               "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]}
                                           for p in rng.sample(managed[:60], 2)]}
              for i, team in enumerate(TEAMS)]
    users = []
    for i in range(max(1, n_roles // 10)):
        name = f"user{i}"
        users.append({"UserName": name, "UserId": f"AIDA{i:017d}", "Arn": f"{arn}:user/{name}", "Path": "/",
                      "GroupList": rng.sample(TEAMS, rng.randint(0, 2)), "AttachedManagedPolicies": [],
                      "UserPolicyList": [{"PolicyName": "own", "PolicyDocument": _document(rng, "web")}]
                      if rng.random() < 0.2 else [], "Tags": []})
    return {"account_id": ACCOUNT, "collected_at": "2026-11-20T00:00:00Z",
            "authorization_details": {"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": roles,
                                      "Policies": managed}}


def _last_used(rng: random.Random) -> dict:
    # One role in five has never been used; the rest at some point this year.
    return {"LastUsedDate": f"2026-{rng.randint(1, 11):02d}-01T00:00:00Z"} if rng.random() < 0.8 else {}


def _managed_policy(i: int, rng: random.Random) -> dict:
    name = f"shared-{i}"
    return {"PolicyName": name, "PolicyId": f"ANPA{i:017d}", "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
            "DefaultVersionId": "v1", "AttachmentCount": 1,
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True,
                                   "Document": _document(rng, rng.choice(TEAMS))}]}


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
        _allow(["iam:PassRole"], f"arn:aws:iam::{ACCOUNT}:role/{team}-*",
               Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
        _allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"], "*"),
        _allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{team}/*"),
        _allow(["ec2:RunInstances", "ec2:TerminateInstances"], "*",
               Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),
        {"Effect": "Deny", "Action": ["iam:*", "organizations:*"], "Resource": "*"},
        _allow(["kms:Decrypt"], f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"),
    ]
    weights = [10, 10, 10, 6, 6, 1, 3, 0.5, 4, 1, 2, 4]
    return {"Version": "2012-10-17", "Statement": rng.choices(pool, weights=weights, k=rng.randint(1, 4))}


def _trust(rng: random.Random, i: int) -> dict:
    roll = rng.random()
    if roll < 0.8:
        statement = {"Effect": "Allow", "Principal": {"Service": f"{rng.choice(SERVICES)}.amazonaws.com"},
                     "Action": "sts:AssumeRole"}
    elif roll < 0.95:
        statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{rng.randint(10**11, 10**12 - 1)}:root"},
                     "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{i}"}}}
    else:
        own = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        statement = {"Effect": "Allow", "Principal": own, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


if __name__ == "__main__":
    sys.exit(main())
