"""What both peer servers publish: the same frame shape and size as an Aegis event, paced alike.

An Aegis frame is the recorder's payload merged with seq/type/message/progress/ts, encoded as
compact JSON; the peers build the same dict so every server sends about the same bytes.
"""

import json
import time
from datetime import UTC, datetime

MESSAGE = "Analyzing role 'ProdAdmin' (3/47)... found 2 critical issues"


def event_dict(seq: int, n: int) -> dict:
    now = datetime.now(UTC)
    return {
        "t_rec": time.time(),
        "bench_n": n,
        "seq": seq,
        "type": "progress",
        "message": MESSAGE,
        "progress": 50,
        "ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
    }


def event_json(seq: int, n: int) -> str:
    return json.dumps(event_dict(seq, n), separators=(",", ":"))


class Schedule:
    """Event i of a run at rate R is due at start + i / R (no drift from slow iterations)."""

    def __init__(self, rate: float, seconds: float, runs: int) -> None:
        self.rate = rate
        self.total = max(1, round(rate * seconds))
        self.runs = max(1, runs)
        self.start = time.monotonic()
        self.published = 0
        self.done = False

    def due(self, i: int) -> float:
        return self.start + i / self.rate

    def target(self, i: int) -> tuple[int, int]:
        """(run id 1..runs, seq within that run) for the i-th event overall."""
        return i % self.runs + 1, i // self.runs + 1

    def stats(self) -> dict:
        return {"published": self.published, "done": self.done}
