"""Server-Sent Events wire format: each frame is encoded once and shared by every viewer."""

import json

from audits.models import AuditEvent

TERMINAL_TYPES = frozenset({"complete", "error", "cancelled"})
PING = b": ping\n\n"


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def encode_event(data: dict) -> bytes:
    # One data line: json.dumps escapes newlines, so a message can never break the framing.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {data['seq']}\ndata: {body}\n\n".encode()


def encode(event: AuditEvent) -> bytes:
    return encode_event(event.to_event_dict())
