#!/usr/bin/env python
"""Organization audit at scale: a synthetic organization audited with 1 worker and with several.

AWS is a moto server on 127.0.0.1 holding an organization of --accounts member accounts of varied sizes (users,
roles, groups, inline and managed policies); every account has the member role. For each worker count in
--workers, a fresh database (PostgreSQL by default, --db sqlite for the embedded one), one real uvicorn and N real
`manage.py db_worker` processes audit the whole organization from one start, while a viewer follows the
organization page's stream.

Prints, per worker count: accounts per minute, events recorded per second (all runs), p50/p99 record->receipt on
the organization stream, duplicated accounts (an account with two child runs, or a child audited from the start
twice), lost events (a gap in any run's log, or an organization event the viewer never got), the organization
page's server time with this organization and with 500 accounts, and the speed-up over one worker. Ends with ONE
JSON line.

    .venv/bin/python bench/org_scale.py                          # 200 accounts, 1 and 3 workers, PostgreSQL
    .venv/bin/python bench/org_scale.py --accounts 50 --workers 1,2 --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import DEFAULT_PG_URL, Stack, Viewer, compare, free_port, make_users, percentile, table_events

MGMT = "123456789012"  # moto's default account: the management account
ROLE = "AegisAudit"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# The workers resolve S3 Control's account-prefixed host to the moto server (see moto_dns/sitecustomize.py).
MOTO_DNS = {"PYTHONPATH": str(Path(__file__).resolve().parent / "moto_dns")}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200, help="member accounts (the management one is extra)")
    parser.add_argument("--workers", default="1,3", help="comma-separated worker counts, one round each")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--database-url", default=None, help=f"PostgreSQL server (default {DEFAULT_PG_URL})")
    parser.add_argument("--timeout", type=float, default=1800, help="per round")
    parser.add_argument("--seed", type=int, default=7)
    # Internal: one round in a process of its own (Django is set up once per process, on one database).
    parser.add_argument("--round-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    return parser.parse_args()


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TRUST_MGMT = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"}, "Action": "sts:AssumeRole"})
TRUST_EC2 = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
POLICIES = [
    doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    doc({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}),
    doc({"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}),
    doc({"Effect": "Allow", "Action": ["iam:CreatePolicyVersion"], "Resource": "*"}),
    doc({"Effect": "Allow", "Action": ["logs:*", "cloudwatch:GetMetricData"], "Resource": "*"}),
]


def build_organization(endpoint: str, accounts: int, seed: int) -> list[str]:
    """The organization in moto: OUs, member accounts of varied sizes, the member role everywhere."""
    import boto3

    rng = random.Random(seed)
    base = boto3.Session(region_name="us-east-1", **_keys())
    org = base.client("organizations", endpoint_url=endpoint)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ous = [org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
           for name in ("Prod", "Dev", "Sandbox")]  # fmt: skip
    base.client("iam", endpoint_url=endpoint).create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST_MGMT)
    ids = []
    for i in range(accounts):
        account_id = org.create_account(AccountName=f"acct-{i:03d}", Email=f"a{i}@example.com")[
            "CreateAccountStatus"]["AccountId"]  # fmt: skip
        org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=rng.choice(ous))
        ids.append(account_id)
        creds = base.client("sts", endpoint_url=endpoint).assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE}", RoleSessionName="bench-setup"
        )["Credentials"]
        iam = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"], region_name="us-east-1").client(
            "iam", endpoint_url=endpoint)  # fmt: skip
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST_MGMT)
        size = rng.choice((2, 5, 10, 25, 60))  # varied sizes: most small, some large
        arns = [iam.create_policy(PolicyName=f"p{j}", PolicyDocument=POLICIES[j])["Policy"]["Arn"]
                for j in range(len(POLICIES))]  # fmt: skip
        iam.create_group(GroupName="team")
        iam.attach_group_policy(GroupName="team", PolicyArn=rng.choice(arns))
        for j in range(size):
            iam.create_user(UserName=f"user-{j}")
            if j % 3 == 0:
                iam.add_user_to_group(GroupName="team", UserName=f"user-{j}")
            else:
                iam.attach_user_policy(UserName=f"user-{j}", PolicyArn=rng.choice(arns))
            iam.create_role(RoleName=f"role-{j}", AssumeRolePolicyDocument=rng.choice((TRUST_MGMT, TRUST_EC2)))
            iam.put_role_policy(RoleName=f"role-{j}", PolicyName="inline", PolicyDocument=rng.choice(POLICIES))
    return ids


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


async def follow(viewer: Viewer, start, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    task = asyncio.create_task(viewer.follow(deadline))
    for _ in range(400):
        if viewer.connected:
            break
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.to_thread(start)
    await task
    return time.monotonic() - started


def page_ms(client, url: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return sorted(times)[len(times) // 2]


def one_round(args: argparse.Namespace, endpoint: str, workers: int) -> dict:
    stack = Stack(
        args.db, args.database_url, env=AWS_ENV | MOTO_DNS | {"AWS_ENDPOINT_URL": endpoint, "AEGIS_DEMO_STEP_MS": "0"}
    )
    try:
        stack.prepare()
        import httpx
        from django.db import connection
        from django.utils import timezone

        from audits.models import AuditEvent, AuditRun, AwsConnection
        from audits.runs import worker

        port = stack.start_server()
        ((user, cookie),) = make_users(1, prefix="org")
        conn = AwsConnection.objects.create(
            owner=user,
            name="management",
            role_arn=f"arn:aws:iam::{MGMT}:role/{ROLE}",
            account_id=MGMT,
            verified_at=timezone.now(),
        )
        parent = AuditRun.objects.create(
            owner=user,
            source="connection",
            connection=conn,
            kind="organization",
            frameworks=["cis"],
            target={"member_role_name": ROLE},
        )
        viewer = Viewer(run_id=parent.pk, ports=[port], cookie=cookie)

        def start() -> None:
            worker.enqueue(parent.pk)
            for _ in range(workers):
                stack.start_worker()
            connection.close()

        elapsed = asyncio.run(follow(viewer, start, args.timeout))
        parent.refresh_from_db()
        children = list(
            AuditRun.objects.filter(parent=parent).values("pk", "account_id", "status", "started", "finished")
        )
        # How many account audits ran at once at the busiest moment: the workers really shared the accounts.
        edges = sorted(
            [(c["started"], 1) for c in children if c["started"]]
            + [(c["finished"], -1) for c in children if c["started"] and c["finished"]]
        )
        running = busiest = 0
        for _, step in edges:
            running += step
            busiest = max(busiest, running)
        statuses = Counter(c["status"] for c in children)
        per_account = Counter(c["account_id"] for c in children)
        starts = Counter(AuditEvent.objects.filter(run__parent=parent, type="start").values_list("run_id", flat=True))
        duplicated = sum(n - 1 for n in per_account.values() if n > 1) + sum(n - 1 for n in starts.values() if n > 1)
        events = list(AuditEvent.objects.filter(run__in=[parent.pk, *(c["pk"] for c in children)])
                      .order_by("run_id", "seq").values_list("run_id", "seq", "created"))  # fmt: skip
        gaps = 0
        by_run: dict[int, list[int]] = {}
        for run_id, seq, _ in events:
            by_run.setdefault(run_id, []).append(seq)
        gaps = sum(1 for seqs in by_run.values() if seqs != list(range(1, len(seqs) + 1)))
        created = {seq: at.timestamp() for run_id, seq, at in events if run_id == parent.pk}
        latencies = [(at - created[seq]) * 1000 for seq, at in zip(viewer.seqs, viewer.received_at, strict=True)
                     if seq in created]  # fmt: skip
        seen = compare(viewer, table_events(parent.pk))
        span = (max(e[2] for e in events) - min(e[2] for e in events)).total_seconds() if events else 0.0
        audited = statuses.get(AuditRun.Status.COMPLETED, 0)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies={"sessionid": cookie}, timeout=60)
        org_page_ms = page_ms(client, f"/audits/{parent.pk}/")
        big = AuditRun.objects.create(
            owner=user,
            source="connection",
            connection=conn,
            kind="organization",
            status="running",
            checkpoint={"children_created": True},
            target={"member_role_name": ROLE},
        )
        AuditRun.objects.bulk_create(
            [
                AuditRun(
                    owner=user,
                    source="connection",
                    connection=conn,
                    parent=big,
                    account_id=f"{i:012d}",
                    status="completed",
                    risk_score=i % 100,
                    target={"account_name": f"synthetic-{i}"},
                )
                for i in range(500)
            ]
        )
        org_page_500_ms = page_ms(client, f"/audits/{big.pk}/")
        client.close()
        return {
            "workers": workers,
            "accounts": len(children),
            "completed": parent.status == AuditRun.Status.COMPLETED,
            "accounts_completed": audited,
            "accounts_failed": statuses.get(AuditRun.Status.FAILED, 0),
            "wall_s": round(elapsed, 1),
            "accounts_per_min": round(len(children) / elapsed * 60, 1) if elapsed else 0,
            "events": len(events),
            "events_per_s": round(len(events) / span, 1) if span else 0.0,
            "org_latency_ms_p50": round(percentile(latencies, 50) or 0, 1),
            "org_latency_ms_p99": round(percentile(latencies, 99) or 0, 1),
            "duplicated_accounts": duplicated,
            "lost_events": gaps + seen["lost"],
            "max_concurrent_accounts": busiest,
            "org_page_ms": round(org_page_ms, 1),
            "org_page_500_ms": round(org_page_500_ms, 1),
        }
    finally:
        stack.close()


def run_round(args: argparse.Namespace, endpoint: str, workers: int) -> dict:
    import subprocess

    cmd = [
        sys.executable,
        __file__,
        "--round-of",
        str(workers),
        "--endpoint",
        endpoint,
        "--db",
        args.db,
        "--timeout",
        str(args.timeout),
    ] + (["--database-url", args.database_url] if args.database_url else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + 300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"round with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    args = parse_args()
    if args.round_of:
        print(json.dumps(one_round(args, args.endpoint, args.round_of)), flush=True)
        return 0
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    os.environ.update(AWS_ENV)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        began = time.monotonic()
        build_organization(endpoint, args.accounts, args.seed)
        print(
            f"org_scale: {args.accounts} member accounts (+ management) built in moto in "
            f"{time.monotonic() - began:.0f} s; {args.db}",
            flush=True,
        )
        rounds = []
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            result = run_round(args, endpoint, workers)
            rounds.append(result)
            print(
                f"  {workers} worker(s): {result['accounts_completed']}/{result['accounts']} accounts in "
                f"{result['wall_s']} s = {result['accounts_per_min']} accounts/min, {result['events_per_s']} "
                f"events/s, org stream p50/p99 {result['org_latency_ms_p50']}/{result['org_latency_ms_p99']} ms, "
                f"at most {result['max_concurrent_accounts']} at once, "
                f"duplicated {result['duplicated_accounts']}, lost {result['lost_events']}, org page "
                f"{result['org_page_ms']} ms ({result['org_page_500_ms']} ms with 500 accounts)",
                flush=True,
            )
    finally:
        moto.stop()
    base = rounds[0]["accounts_per_min"] if rounds else 0
    for r in rounds:
        r["speedup"] = round(r["accounts_per_min"] / base, 2) if base else None
        print(f"  speed-up with {r['workers']} worker(s): {r['speedup']}x")
    ok = all(r["completed"] and r["duplicated_accounts"] == 0 and r["lost_events"] == 0 for r in rounds)
    last = rounds[-1] if rounds else {}
    print(json.dumps({
        "bench": "org_scale", "db": args.db, "accounts": last.get("accounts", 0), "completed": ok,
        "duplicated_accounts": sum(r["duplicated_accounts"] for r in rounds),
        "lost_events": sum(r["lost_events"] for r in rounds), "workers": last.get("workers", 0),
        "accounts_per_min": last.get("accounts_per_min", 0), "rounds": rounds,
    }), flush=True)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
