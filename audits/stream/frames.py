"""Server-Sent Events wire format: each frame is encoded once and shared by every viewer.

Encoding never raises: text Python holds but UTF-8 cannot carry (a lone surrogate from a hostile
policy, say) is replaced with U+FFFD, and an event that still cannot be encoded becomes a
`skipped` frame with its seq, so one bad event never stops its run's stream, let alone the hub.
"""

import json
import logging

from audits.models import AuditEvent

log = logging.getLogger(__name__)

TERMINAL_TYPES = frozenset({"complete", "error", "cancelled"})
PING = b": ping\n\n"


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def utf8(text: str) -> bytes:
    """UTF-8 bytes of any str; lone surrogates become U+FFFD (valid pairs are joined)."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def encode_event(data: dict) -> bytes:
    # One data line: json.dumps escapes newlines, so a message can never break the framing.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return utf8(f"id: {data['seq']}\ndata: {body}\n\n")


def closed_frame(reason: str, message: str) -> bytes:
    """The last frame of a stream the server ends early: no id, so a reconnect resumes where it was."""
    body = json.dumps({"type": "closed", "reason": reason, "message": message}, separators=(",", ":"))
    return f"data: {body}\n\n".encode()


def skipped_frame(seq: int) -> bytes:
    body = json.dumps({"seq": seq, "type": "skipped", "message": "This event could not be encoded.", "progress": 0})
    return f"id: {seq}\ndata: {body}\n\n".encode()


def encode(event: AuditEvent) -> bytes:
    try:
        return encode_event(event.to_event_dict())
    except Exception:
        log.exception("run %s: event %s cannot be encoded; sent as skipped", event.run_id, event.seq)
        return skipped_frame(event.seq)
