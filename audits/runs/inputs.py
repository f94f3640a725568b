"""A run's input snapshot, gzip-compressed in its own RunInput row, out of the run row.

Lists, pages, the admin and every event write touch the run row; a 40 MB snapshot in it made each of them read
or rewrite 40 MB (on SQLite an UPDATE rewrites the whole row). Only the worker reads the input, through
`load_input`, and only the new-audit view and the AWS collector write it, through `store_input`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from audits.models import AuditRun, RunInput

if TYPE_CHECKING:
    from audits.iam.snapshot import AccountSnapshot

CHUNK = 1024 * 1024
# Fast enough to compress 40 MB in about a second; level 9 costs four times the CPU for a few per cent.
GZIP_LEVEL = 6


class _Measured(io.RawIOBase):
    """A write-only sink that hashes and counts the uncompressed bytes on their way into gzip."""

    def __init__(self, target: gzip.GzipFile) -> None:
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.digest.update(chunk)
        self.size += len(chunk)
        self.target.write(chunk)
        return len(chunk)


@dataclass(frozen=True)
class PackedInput:
    data: bytes  # gzip
    size_bytes: int  # uncompressed
    sha256: str  # of the uncompressed JSON


def pack_input(source: AccountSnapshot | dict | IO[bytes]) -> PackedInput:
    """Compress a snapshot, a bundle dict, or a binary file of snapshot JSON (read in chunks).

    The JSON is gzip-compressed while it is written, so neither a second uncompressed copy nor the whole
    upload is ever held in memory here. Done before the run's transaction, so no write lock waits on it."""
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as zipped:
        sink = _Measured(zipped)
        if hasattr(source, "read"):
            shutil.copyfileobj(source, sink, CHUNK)
        else:
            bundle = source if isinstance(source, dict) else source.to_dict()
            # surrogatepass: a lone surrogate in collected data must not lose the run's input.
            text = io.TextIOWrapper(sink, encoding="utf-8", errors="surrogatepass", write_through=True)  # type: ignore
            for piece in json.JSONEncoder(allow_nan=False, ensure_ascii=False).iterencode(bundle):
                text.write(piece)
            text.flush()
            text.detach()
    return PackedInput(compressed.getvalue(), sink.size, sink.digest.hexdigest())


def save_input(run: AuditRun | int, packed: PackedInput) -> RunInput:
    run_id = run if isinstance(run, int) else run.pk
    stored, _ = RunInput.objects.update_or_create(
        run_id=run_id, defaults={"data": packed.data, "size_bytes": packed.size_bytes, "sha256": packed.sha256}
    )
    return stored


def store_input(run: AuditRun | int, source: AccountSnapshot | dict | IO[bytes]) -> RunInput:
    return save_input(run, pack_input(source))


def has_input(run_id: int) -> bool:
    return RunInput.objects.filter(run_id=run_id).exists()


def input_bytes(run_id: int) -> bytes | None:
    """The stored JSON, decompressed; None when the run has no stored input."""
    row = RunInput.objects.filter(run_id=run_id).values_list("data", flat=True).first()
    if row is None:
        return None
    return gzip.decompress(bytes(row))


def load_input(run_id: int) -> AccountSnapshot:
    """The run's input as the engine's AccountSnapshot; the one way engine-side code reads a stored snapshot."""
    from audits.iam.snapshot import SnapshotError, load_snapshot

    row = RunInput.objects.filter(run_id=run_id).values_list("data", "run__source").first()
    if row is None:
        raise SnapshotError("this audit has no stored snapshot to analyse")
    data, run_source = row
    source = "live" if run_source == AuditRun.Source.CONNECTION else "snapshot"
    raw = gzip.decompress(bytes(data))
    del data, row
    if source == "live":
        # Our own collector wrote it (to_dict may exceed the upload size limit for a huge account).
        return load_snapshot(json.loads(raw), source=source)
    # An upload is stored as it came: this is where a large one is checked in full (see forms.NewAuditForm),
    # so anything the loader raises must reach the user as a clear message, not an "internal error".
    try:
        return load_snapshot(raw, source=source)
    except SnapshotError:
        raise
    except (ValueError, TypeError, AttributeError, RecursionError):
        raise SnapshotError("Snapshot could not be read: expected a JSON object of IAM data.") from None


__all__ = ["PackedInput", "has_input", "input_bytes", "load_input", "pack_input", "save_input", "store_input"]
