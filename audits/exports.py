"""Downloads of a run: its event log as text or NDJSON, its findings through audits.iam.report.

Every export is written as it is read: rows come from the database a page (AEGIS_EXPORT_PAGE rows) at a time and
go out in chunks of about EXPORT_CHUNK_BYTES, so a download that is never read holds one page, not the run. The
findings are ordered by the database in the report's own order, so the bytes are those report.to_* would write.
"""

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import TypedDict

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Value, When
from django.db.models.functions import Collate
from django.http import HttpResponse, StreamingHttpResponse

from audits.iam import finding_types
from audits.models import AuditRun, Finding, Suppression, format_ts
from audits.runs import sources
from audits.stream.frames import utf8

LOG_FORMATS = ("log.txt", "log.ndjson")
FINDING_FORMATS = ("findings.json", "findings.csv", "findings.sarif", "findings.ocsf.json")
CONTENT_TYPES = {
    "log.txt": "text/plain; charset=utf-8",
    "log.ndjson": "application/x-ndjson; charset=utf-8",
    "findings.json": "application/json; charset=utf-8",
    "findings.csv": "text/csv; charset=utf-8",
    "findings.sarif": "application/sarif+json; charset=utf-8",
    "findings.ocsf.json": "application/json; charset=utf-8",
}
EXPORT_CHUNK_BYTES = 256 * 1024


def log_lines(run: AuditRun) -> Iterator[bytes]:
    """One line per event: timestamp, type, progress, message (newlines folded so a line stays a line)."""
    rows = run.events.order_by("seq").values_list("created", "type", "progress", "message")
    for created, type_, progress, message in rows.iterator(chunk_size=settings.AEGIS_EXPORT_PAGE):
        text = " ".join(message.splitlines())
        yield utf8(f"{format_ts(created)}\t{type_}\t{progress:>3}%\t{text}\n")


def log_ndjson(run: AuditRun) -> Iterator[bytes]:
    for event in run.events.order_by("seq").iterator(chunk_size=settings.AEGIS_EXPORT_PAGE):
        # Bytes, made safe here: a lone surrogate would otherwise stop the download mid-file.
        yield utf8(json.dumps(event.to_event_dict(), ensure_ascii=False, default=str) + "\n")


def run_meta(run: AuditRun) -> dict:
    return {
        "run_id": run.pk,
        "account_id": run.account_id,
        "source": run.source,
        "snapshot_name": run.snapshot_name,
        "frameworks": list(run.frameworks or []),
        "status": run.status,
        "risk_score": run.risk_score,
        "started": format_ts(run.started) if run.started else None,
        "finished": format_ts(run.finished) if run.finished else None,
    }


def _text(name: str):
    # Python orders str by code point; so do SQLite's BINARY and PostgreSQL's "C" collation (not a locale's).
    return Collate(F(name), "C") if connection.vendor == "postgresql" else F(name)


def ordered_findings(run: AuditRun, *fields: str):
    """The run's findings in report.sorted_findings order (severity rank, check, principal ARN, fingerprint)."""
    from audits.iam.report import SEVERITY_ORDER

    rank = Case(
        *(When(severity=sev, then=Value(i)) for i, sev in enumerate(SEVERITY_ORDER)),
        default=Value(len(SEVERITY_ORDER)),
        output_field=IntegerField(),
    )
    rows = Finding.objects.filter(run=run).only(*(fields or Finding.FIELDS))
    return rows.order_by(rank, _text("check_id"), _text("principal_arn"), _text("fingerprint"))


def _finding_dicts(run: AuditRun, *, with_fix: bool = False) -> Iterator[finding_types.Finding]:
    """The run's findings in report order, a suppressed one marked (marks), read a page at a time; with_fix fills
    a finding recorded without a fix with the one written from the finding alone."""
    from audits.iam.remediation import fix_for

    rows = ordered_findings(run, *Finding.FIELDS, "suppressed", "muted_by")
    for page in itertools.batched(rows.iterator(chunk_size=settings.AEGIS_EXPORT_PAGE), settings.AEGIS_EXPORT_PAGE):
        notes = suppression_notes(run, page)
        for finding in page:
            data: finding_types.Finding = finding.to_dict()
            data.update(marks(finding, notes))
            if with_fix and not data["fix"]:
                data["fix"] = fix_for(finding.to_dict())
            yield data


class Marks(TypedDict, total=False):
    suppressed: bool
    muted_by: str


def marks(finding: Finding, notes: dict[str, str]) -> Marks:
    """What a suppressed finding adds to its dict: nothing for one that is not, so those exports keep their bytes."""
    if not finding.suppressed:
        return {}
    return {"suppressed": True, "muted_by": finding.muted_by or notes.get(finding.fingerprint) or "accepted risk"}


def suppression_notes(run: AuditRun, findings: Iterable[Finding]) -> dict[str, str]:
    """ "accepted risk: <justification>" by fingerprint, for the accepted risks (not muted by a rule) among findings,
    from the run owner's suppressions of the run's source (the latest accepted of each)."""
    wanted = {f.fingerprint for f in findings if f.suppressed and not f.muted_by}
    if not wanted:
        return {}
    rows = (
        Suppression.objects.filter(sources.same_source_suppressions(run.source_key), owner_id=run.owner_id)
        .filter(fingerprint__in=wanted)
        .order_by("created")
        .values_list("fingerprint", "justification")
    )
    return {fingerprint: f"accepted risk: {justification}"[:400] for fingerprint, justification in rows}


def _totals(run: AuditRun) -> dict:
    """report.totals, counted by the database."""
    from audits.iam.report import SEVERITY_ORDER

    findings = Finding.objects.filter(run=run, suppressed=False)
    by_severity = dict(findings.values_list("severity").annotate(n=Count("pk")).order_by())
    by_category = dict(findings.values_list("category").annotate(n=Count("pk")).order_by())
    return {
        "total": sum(by_severity.values()),
        "by_severity": {sev: by_severity.get(sev, 0) for sev in SEVERITY_ORDER},
        "by_category": dict(sorted(by_category.items())),
        "suppressed": Finding.objects.filter(run=run, suppressed=True).count(),
    }


def findings_chunks(run: AuditRun, name: str) -> Iterator[str]:
    from audits.iam import report

    if name == "findings.json":
        return report.json_chunks(run_meta(run), run.result or {}, _totals(run), _finding_dicts(run))
    if name == "findings.csv":
        return report.csv_chunks(_finding_dicts(run, with_fix=True), run_meta=run_meta(run))
    if name == "findings.sarif":
        from audits.iam import CHECKS

        check_ids = Finding.objects.filter(run=run).values_list("check_id", flat=True).distinct().order_by()
        return report.sarif_chunks(run_meta(run), list(check_ids), _finding_dicts(run), CHECKS)
    if name == "findings.ocsf.json":
        from audits.iam import CHECKS

        return report.ocsf_chunks(run_meta(run), _finding_dicts(run, with_fix=True), CHECKS)
    raise ValueError(name)


def findings_document(run: AuditRun, name: str) -> str:
    """One findings export whole (for callers that want the text; downloads stream it instead)."""
    return "".join(findings_chunks(run, name))


def _batched(pieces: Iterable[str | bytes]) -> Iterator[bytes]:
    """UTF-8 chunks of about EXPORT_CHUNK_BYTES; a lone surrogate in IAM text must not stop the download."""
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        data = utf8(piece) if isinstance(piece, str) else piece
        batch.append(data)
        size += len(data)
        if size >= EXPORT_CHUNK_BYTES:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


class PagedResponse(StreamingHttpResponse):
    """A download read from the database as it is sent, under WSGI and ASGI alike.

    Django serves a sync iterator under ASGI by reading it whole into a list first; here ASGI takes each chunk
    from the same generator through sync_to_async (in the request's own thread, where its cursor lives), so only
    the chunk being sent is held."""

    def __init__(self, chunks: Iterator[bytes], **kwargs) -> None:
        super().__init__(chunks, **kwargs)
        self._chunks = chunks

    async def __aiter__(self):
        if self._iterator is not self._chunks:  # a middleware rewrapped the content: let Django serve that
            async for part in super().__aiter__():
                yield part
            return
        # asgiref types the wrapper from next()'s first overload (one argument), not the one with a default.
        take = sync_to_async(next, thread_sensitive=True)
        while (chunk := await take(self._chunks, None)) is not None:  # type: ignore[call-arg]
            yield chunk


def response_for(run: AuditRun, name: str) -> HttpResponse:
    """The download of one export (name in CONTENT_TYPES), for the portal and the API alike."""
    if name == "log.txt":
        pieces: Iterable[str | bytes] = log_lines(run)
    elif name == "log.ndjson":
        pieces = log_ndjson(run)
    else:
        pieces = findings_chunks(run, name)
    chunks = _batched(pieces)
    if name in FINDING_FORMATS and Finding.objects.filter(run=run).count() <= settings.AEGIS_EXPORT_PAGE:
        # Findings that fit one page are sent whole, as a plain response: one page is held either way.
        response: HttpResponse = HttpResponse(b"".join(chunks), content_type=CONTENT_TYPES[name])
    else:
        response = PagedResponse(chunks, content_type=CONTENT_TYPES[name])
    response["Content-Disposition"] = f'attachment; filename="aegis-audit-{run.pk}-{name}"'
    return response
