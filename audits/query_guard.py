"""Bounds on "Who can...?" in the web process, which shares its memory and CPU with everyone's pages.

A question parses the run's whole stored snapshot and evaluates every principal. So: at most QUERY_SLOTS questions
run at once per process (one more is told to come back, 503 with Retry-After, rather than queued); a snapshot past
settings.AEGIS_QUERY_MAX_SNAPSHOT_BYTES uncompressed is refused (413) before it is decompressed or parsed, which
bounds the memory; the evaluation stops after QUERY_SECONDS (see who_can's time_limit). The CLI
(`manage.py audit query --snapshot FILE`) has none of these limits.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from audits.iam.snapshot import AccountSnapshot, SnapshotError, load_snapshot
from audits.models import AuditRun, RunInput

QUERY_SLOTS = 2
QUERY_SECONDS = 20.0
RETRY_AFTER_S = 5
_slots = threading.BoundedSemaphore(QUERY_SLOTS)


class RefusedError(Exception):
    """A question the portal will not answer now or at all: the message is shown as-is, with `status`."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@contextmanager
def query_slot() -> Iterator[None]:
    if not _slots.acquire(blocking=False):
        busy = f"Other questions are being answered; ask again in {RETRY_AFTER_S} seconds."
        raise RefusedError(503, busy, RETRY_AFTER_S)
    try:
        yield
    finally:
        _slots.release()


def max_snapshot_bytes() -> int:
    return settings.AEGIS_QUERY_MAX_SNAPSHOT_BYTES


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KB"


def _too_large(size: int | None) -> RefusedError:
    found = f"is {_size(size)}" if size else "is larger than that"
    return RefusedError(
        413,
        f"The portal answers \u201cWho can\u2026?\u201d on snapshots up to {_size(max_snapshot_bytes())}; this "
        f"audit's snapshot {found}. Ask with `manage.py audit query --snapshot FILE` instead.",
    )


def _decompressed(data: bytes) -> bytes:
    """The stored JSON, never more than the limit in memory: a row's recorded size may be missing (older rows)."""
    limit = max_snapshot_bytes()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as zipped:
            raw = zipped.read(limit + 1)
    except (OSError, EOFError):
        raise SnapshotError("This audit's stored snapshot cannot be read.") from None
    if len(raw) > limit:
        raise _too_large(None)
    return raw


def load_stored_input(run: AuditRun) -> AccountSnapshot | None:
    """The run's stored snapshot within the size limit (RefusedError past it), or None when it keeps none."""
    size = RunInput.objects.filter(run_id=run.pk).values_list("size_bytes", flat=True).first()
    if size is None:
        return None
    if size > max_snapshot_bytes():
        raise _too_large(size)
    data = RunInput.objects.filter(run_id=run.pk).values_list("data", flat=True).first()
    if data is None:  # deleted meanwhile
        return None
    raw = _decompressed(bytes(data))
    del data
    if run.source == AuditRun.Source.CONNECTION:
        return load_snapshot(json.loads(raw), source="live")  # our collector's output, as run_inputs.load_input
    try:
        return load_snapshot(raw, source="snapshot")
    except SnapshotError:
        raise
    except (ValueError, TypeError, AttributeError, RecursionError):
        raise SnapshotError("Snapshot could not be read: expected a JSON object of IAM data.") from None
