#!/usr/bin/env python
"""Chaos check of live delivery: many viewers, random disconnects, concurrent demo audits.

Starts real uvicorn web processes and real `manage.py db_worker` processes on a fresh database
(embedded SQLite by default, --db postgres for a fresh PostgreSQL database next to DATABASE_URL),
starts N demo audits at once (one user each, so the per-user active-run limit never refuses one),
and has V viewers follow them like browsers: each keeps the id of the last complete event and,
whenever its connection drops, reconnects with Last-Event-ID to a random web process (no
stickiness). Meanwhile a chaos loop aborts random open connections - mid-frame as often as not -
until D disconnects have happened. At the end every viewer's log is compared with the events table.

It prints lost / duplicated / reordered (and mismatched) counts, which must all be 0, and ends with
ONE JSON line. Exit status 0 when they are 0 and every audit completed, 1 otherwise.

    .venv/bin/python bench/chaos.py                       # 100 viewers, 1,000 disconnects, 20 audits, SQLite
    .venv/bin/python bench/chaos.py --db postgres         # the same on PostgreSQL (DATABASE_URL's server)
    .venv/bin/python bench/chaos.py --viewers 20 --disconnects 100 --audits 4   # a quick smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import DEFAULT_PG_URL, Stack, Viewer, compare, make_users, table_events

DEMO_PRINCIPALS = 74  # principals in the demo account; only used to pace the disconnects


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default=None, help=f"PostgreSQL server to use (default {DEFAULT_PG_URL})")
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--disconnects", type=int, default=1000)
    parser.add_argument("--audits", type=int, default=20)
    parser.add_argument("--servers", type=int, default=2, help="uvicorn web processes (viewers pick one at random)")
    parser.add_argument("--workers", type=int, default=2, help="db_worker processes")
    parser.add_argument("--step-ms", type=int, default=60, help="demo pacing per principal (AEGIS_DEMO_STEP_MS)")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args()


async def chaos(viewers: list[Viewer], target: int, per_run_s: float, workers: int, deadline: float) -> int:
    """Abort random open connections until `target` disconnects, spread over the audits' remaining time."""
    done = 0
    started = time.monotonic()
    while done < target and time.monotonic() < deadline:
        active = [v for v in viewers if not v.done]
        if not active:
            break
        # Time left, from how far the audits have got so far (a guess from the demo's size at first).
        share = _share_done(viewers)
        elapsed = time.monotonic() - started
        if share > 0.05 and elapsed > 2:
            remaining_s = elapsed * (1 - share) / share
        else:
            remaining_s = len({v.run_id for v in active}) / workers * per_run_s
        remaining_s = max(1.0, remaining_s)
        await asyncio.sleep(random.expovariate((target - done) / (remaining_s * 0.4)))
        open_now = [v for v in active if v.connected]
        if open_now and random.choice(open_now).cut():
            done += 1
    return done


def _share_done(viewers: list[Viewer]) -> float:
    """Mean progress of the audits (0..1), from the latest event each run's viewers have seen."""
    best: dict[int, int] = {}
    for viewer in viewers:
        seen = 100 if viewer.done else (viewer.events[-1].get("progress", 0) if viewer.events else 0)
        best[viewer.run_id] = max(best.get(viewer.run_id, 0), seen)
    return sum(best.values()) / (100 * len(best)) if best else 0.0


async def main_async(args, runs: list[tuple[int, str]], ports: list[int]) -> tuple[list[Viewer], int, float]:
    viewers = []
    for i in range(args.viewers):
        run_id, cookie = runs[i % len(runs)]
        viewers.append(Viewer(run_id=run_id, ports=ports, cookie=cookie))
    deadline = time.monotonic() + args.timeout
    per_run_s = DEMO_PRINCIPALS * args.step_ms / 1000 + 1.5
    started = time.monotonic()
    follow = [asyncio.create_task(v.follow(deadline)) for v in viewers]
    cuts = await chaos(viewers, args.disconnects, per_run_s, args.workers, deadline)
    await asyncio.gather(*follow)
    return viewers, cuts, time.monotonic() - started


def main() -> int:
    args = parse_args()
    if args.seed is not None:
        random.seed(args.seed)
    stack = Stack(args.db, args.database_url, env={
        "AEGIS_DEMO_STEP_MS": str(args.step_ms),
        "AEGIS_SSE_HEARTBEAT_S": "5",
    })  # fmt: skip
    try:
        stack.prepare()
        from audits.models import FRAMEWORK_KEYS, AuditRun
        from audits.runs import start

        ports = [stack.start_server() for _ in range(args.servers)]
        users = make_users(args.audits, prefix="chaos")
        for _ in range(args.workers):
            stack.start_worker()
        print(f"chaos: {args.db}, {args.servers} web + {args.workers} workers, {args.audits} audits, "
              f"{args.viewers} viewers, {args.disconnects} disconnects", flush=True)  # fmt: skip
        runs = []
        for user, cookie in users:
            frameworks = random.sample(FRAMEWORK_KEYS, random.randint(0, 3))
            runs.append((start.start_run(user, source="demo", frameworks=frameworks).pk, cookie))
        viewers, cuts, elapsed = asyncio.run(main_async(args, runs, ports))

        deadline = time.monotonic() + 60
        run_ids = [run_id for run_id, _ in runs]
        while time.monotonic() < deadline:
            states = AuditRun.objects.filter(pk__in=run_ids).values_list("status", flat=True)
            if all(state in AuditRun.FINISHED for state in states):
                break
            time.sleep(0.2)
        statuses = dict(AuditRun.objects.filter(pk__in=run_ids).values_list("pk", "status"))
        tables = {run_id: table_events(run_id) for run_id in run_ids}
        totals = {"lost": 0, "duplicated": 0, "reordered": 0, "mismatched": 0, "table_gaps": 0, "id_mismatches": 0}
        for viewer in viewers:
            for name, value in compare(viewer, tables[viewer.run_id]).items():
                totals[name] += value
        table_gaps = sum(1 for t in tables.values() if [e["seq"] for e in t] != list(range(1, len(t) + 1)))
        totals["table_gaps"] = table_gaps
        completed = sum(1 for s in statuses.values() if s == AuditRun.Status.COMPLETED)
        unfinished_viewers = sum(1 for v in viewers if not v.done)
        connections = sum(v.connections for v in viewers)
        deliveries = sum(len(v.seqs) for v in viewers)
        expected = sum(len(tables[v.run_id]) for v in viewers)
        mid_frame = sum(v.errors.total() for v in viewers)
        statuses_seen: dict[str, int] = {}
        for v in viewers:
            for code, n in v.statuses.items():
                statuses_seen[str(code)] = statuses_seen.get(str(code), 0) + n
        ok = (
            all(totals[k] == 0 for k in totals)
            and completed == len(run_ids)
            and unfinished_viewers == 0
            and cuts >= args.disconnects
        )
        print(f"  audits completed      {completed}/{len(run_ids)}")
        print(f"  events in table       {sum(len(t) for t in tables.values())}")
        print(f"  deliveries            {deliveries} (expected {expected})")
        print(f"  disconnects           {cuts} (connections opened {connections}, HTTP statuses {statuses_seen})")
        print(f"  viewers unfinished    {unfinished_viewers}")
        print(f"  lost                  {totals['lost']}")
        print(f"  duplicated            {totals['duplicated']}")
        print(f"  reordered             {totals['reordered']}")
        print(f"  mismatched            {totals['mismatched']} (event differs from its table row)")
        print(f"  table gaps            {table_gaps}")
        print(f"  elapsed               {elapsed:.1f} s")
        print("  PASS" if ok else "  FAIL")
        print(json.dumps({
            "bench": "chaos", "db": args.db, "servers": args.servers, "workers": args.workers,
            "audits": len(run_ids), "audits_completed": completed, "viewers": args.viewers,
            "disconnects": cuts, "connections": connections, "http_statuses": statuses_seen,
            "events_in_table": sum(len(t) for t in tables.values()), "deliveries": deliveries,
            "deliveries_expected": expected, "lost": totals["lost"], "duplicated": totals["duplicated"],
            "reordered": totals["reordered"], "mismatched": totals["mismatched"], "table_gaps": table_gaps,
            "id_mismatches": totals["id_mismatches"], "viewers_unfinished": unfinished_viewers,
            "connection_errors": mid_frame, "step_ms": args.step_ms, "elapsed_s": round(elapsed, 1), "pass": ok,
        }), flush=True)  # fmt: skip
        return 0 if ok else 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
