#!/usr/bin/env python
"""Load check: many demo audits at once on one machine, each followed live by a viewer.

Starts real uvicorn web processes and 2 real `manage.py db_worker` processes on a fresh database
(embedded SQLite by default, --db postgres for a fresh PostgreSQL database next to DATABASE_URL),
connects one viewer per audit (one user per audit, so the per-user active-run limit never refuses
one), then starts all the audits at once and waits until every one has finished.

It reports how many completed, the events recorded per second (all events of all audits over the
span from the first event's AuditEvent.created to the last one's) and the delivery latency: each
event's receipt time on the viewer's clock minus its AuditEvent.created (same machine, same clock).
It ends with ONE JSON line; exit status 0 when every audit completed and every viewer got its whole log.

The demo pauses AEGIS_DEMO_STEP_MS after each principal so people can watch it; that pause would make
this a measure of sleep, so --step-ms defaults to 0 (the engine and recorder at full speed).

    .venv/bin/python bench/load.py                      # 100 audits, 2 workers, 1 web process, SQLite
    .venv/bin/python bench/load.py --db postgres
    .venv/bin/python bench/load.py --audits 10 --step-ms 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import DEFAULT_PG_URL, Stack, Viewer, compare, make_users, percentile


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default=None, help=f"PostgreSQL server to use (default {DEFAULT_PG_URL})")
    parser.add_argument("--audits", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--step-ms", type=int, default=0, help="demo pacing per principal (AEGIS_DEMO_STEP_MS)")
    parser.add_argument("--frameworks", default="cis,pci_dss", help="comma-separated frameworks for every audit")
    parser.add_argument("--timeout", type=float, default=1200, help="give up after this many seconds")
    return parser.parse_args()


async def follow_all(viewers: list[Viewer], start_runs, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    tasks = [asyncio.create_task(v.follow(deadline)) for v in viewers]
    # Every viewer is connected (and waiting on a queued run) before the audits start.
    for _ in range(400):
        if all(v.connected for v in viewers):
            break
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.to_thread(start_runs)
    await asyncio.gather(*tasks)
    return time.monotonic() - started


def main() -> int:
    args = parse_args()
    stack = Stack(args.db, args.database_url, env={"AEGIS_DEMO_STEP_MS": str(args.step_ms)})
    try:
        stack.prepare()
        from django.db import connection

        from audits.models import AuditEvent, AuditRun
        from audits.runs import worker

        ports = [stack.start_server() for _ in range(args.servers)]
        users = make_users(args.audits, prefix="load")
        frameworks = [f for f in args.frameworks.split(",") if f]
        # Runs are created queued (no worker yet) so viewers can be attached to their ids first.
        runs = [AuditRun.objects.create(owner=user, source="demo", frameworks=frameworks) for user, _ in users]
        viewers = [
            Viewer(run_id=run.pk, ports=ports, cookie=cookie) for run, (_, cookie) in zip(runs, users, strict=True)
        ]
        print(f"load: {args.db}, {args.servers} web + {args.workers} workers, {args.audits} audits "
              f"(step {args.step_ms} ms), one viewer each", flush=True)  # fmt: skip

        def start_runs() -> None:
            for run in runs:
                worker.enqueue(run.pk)  # outside a transaction: the task is queued at once
            for _ in range(args.workers):
                stack.start_worker()
            connection.close()

        elapsed = asyncio.run(follow_all(viewers, start_runs, args.timeout))
        run_ids = [run.pk for run in runs]
        for _ in range(300):
            if not AuditRun.objects.filter(pk__in=run_ids).exclude(status__in=AuditRun.FINISHED).exists():
                break
            time.sleep(0.2)
        statuses = list(AuditRun.objects.filter(pk__in=run_ids).values_list("status", flat=True))
        completed = statuses.count(AuditRun.Status.COMPLETED)

        created = {}
        tables: dict[int, list[dict]] = {run_id: [] for run_id in run_ids}
        for event in AuditEvent.objects.filter(run_id__in=run_ids).order_by("run_id", "seq"):
            created[(event.run_id, event.seq)] = event.created.timestamp()
            tables[event.run_id].append(event.to_event_dict())
        total_events = len(created)
        span = max(created.values()) - min(created.values()) if created else 0.0
        rate = total_events / span if span > 0 else 0.0
        latencies_ms = []
        problems = {"lost": 0, "duplicated": 0, "reordered": 0, "mismatched": 0}
        for viewer in viewers:
            for seq, at in zip(viewer.seqs, viewer.received_at, strict=True):
                if (viewer.run_id, seq) in created:
                    latencies_ms.append((at - created[(viewer.run_id, seq)]) * 1000)
            result = compare(viewer, tables[viewer.run_id])
            for name in problems:
                problems[name] += result[name]
        p50, p95, p99 = (percentile(latencies_ms, q) or 0.0 for q in (50, 95, 99))
        worst = max(latencies_ms) if latencies_ms else 0.0
        ok = completed == len(run_ids) and all(v == 0 for v in problems.values()) and all(v.done for v in viewers)
        print(f"  audits completed        {completed}/{len(run_ids)} in {elapsed:.1f} s")
        print(f"  events recorded         {total_events} over {span:.1f} s = {rate:.0f} events/s")
        print(f"  deliveries              {len(latencies_ms)}")
        print(f"  latency ms p50/p95/p99  {p50:.1f} / {p95:.1f} / {p99:.1f} (max {worst:.1f})")
        print(f"  lost/dup/reordered      {problems['lost']}/{problems['duplicated']}/{problems['reordered']} "
              f"(mismatched {problems['mismatched']})")  # fmt: skip
        print("  PASS" if ok else "  FAIL")
        print(json.dumps({
            "bench": "load", "db": args.db, "servers": args.servers, "workers": args.workers,
            "audits": len(run_ids), "audits_completed": completed, "step_ms": args.step_ms,
            "events": total_events, "record_span_s": round(span, 2), "events_per_s": round(rate, 1),
            "deliveries": len(latencies_ms), "latency_ms_p50": round(p50, 2), "latency_ms_p95": round(p95, 2),
            "latency_ms_p99": round(p99, 2), "latency_ms_max": round(worst, 2), **problems,
            "elapsed_s": round(elapsed, 1), "pass": ok,
        }), flush=True)  # fmt: skip
        return 0 if ok else 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
