"""Downloads of a run: its event log as text or NDJSON, its findings through audits.iam.report."""

import json

from django.http import HttpResponse, StreamingHttpResponse

from audits.models import AuditRun, Finding, format_ts
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


def log_lines(run: AuditRun):
    """One line per event: timestamp, type, progress, message (newlines folded so a line stays a line)."""
    rows = run.events.order_by("seq").values_list("created", "type", "progress", "message")
    for created, type_, progress, message in rows.iterator(chunk_size=1000):
        text = " ".join(message.splitlines())
        yield utf8(f"{format_ts(created)}\t{type_}\t{progress:>3}%\t{text}\n")


def log_ndjson(run: AuditRun):
    for event in run.events.order_by("seq").iterator(chunk_size=1000):
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


def findings_document(run: AuditRun, name: str) -> str | bytes:
    from audits.iam import report

    findings = [f.to_dict() for f in Finding.objects.filter(run=run)]
    if name == "findings.json":
        return report.to_json(run_meta(run), run.result or {}, findings)
    if name == "findings.csv":
        return report.to_csv(findings)
    if name == "findings.sarif":
        from audits.iam import CHECKS

        return report.to_sarif(run_meta(run), findings, CHECKS)
    if name == "findings.ocsf.json":
        from audits.iam import CHECKS
        from audits.iam.remediation import fix_for

        rows = Finding.objects.filter(run=run).only(*Finding.FIELDS, "suppressed")
        with_fix = [f.to_dict() | {"suppressed": f.suppressed, "fix": f.fix or fix_for(f.to_dict())} for f in rows]
        return report.to_ocsf(run_meta(run), with_fix, CHECKS)
    raise ValueError(name)


def response_for(run: AuditRun, name: str) -> HttpResponse:
    """The download of one export (name in CONTENT_TYPES), for the portal and the API alike."""
    if name == "log.txt":
        response: HttpResponse = StreamingHttpResponse(log_lines(run), content_type=CONTENT_TYPES[name])
    elif name == "log.ndjson":
        response = StreamingHttpResponse(log_ndjson(run), content_type=CONTENT_TYPES[name])
    else:
        body = findings_document(run, name)
        if not isinstance(body, str | bytes):
            body = json.dumps(body, indent=2, ensure_ascii=False, default=str)
        if isinstance(body, str):
            body = utf8(body)  # a lone surrogate in IAM text must not turn the download into a 500
        response = HttpResponse(body, content_type=CONTENT_TYPES[name])
    response["Content-Disposition"] = f'attachment; filename="aegis-audit-{run.pk}-{name}"'
    return response
