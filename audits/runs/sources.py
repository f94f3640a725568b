"""A run's source key: what was audited, so history, compare, trends and accepted risks follow the input.

The demo account, a sample upload and an organization bundle may all claim account 123456789012; keyed by the
account id alone they would share one history. The key names the input instead:

- "demo"                                the built-in demo account
- "connection:<id>"                     an AWS connection audited as one account
- "org:<connection id>"                 an organization run (the parent)
- "org:<connection id>:<account id>"    one member account of that organization
- "upload:<sha256 of the uploaded bytes>"  an uploaded snapshot; the same file uploaded twice shares its history

Runs are matched on the key and the account id together (audits.compare), so a connection re-pointed at another
account starts a new history too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q

if TYPE_CHECKING:
    from audits.models import AuditRun

DEMO = "demo"
SHORT_DIGEST = 12


def key_for(
    source: str,
    *,
    kind: str = "account",
    connection_id: int | None = None,
    member_account: str = "",
    upload_sha256: str = "",
    run_id: int | None = None,
) -> str:
    """The key of a run from its plain fields (migration 0008 keeps a frozen copy for existing rows)."""
    if source == "demo":
        return DEMO
    if source == "snapshot":
        if upload_sha256:
            return f"upload:{upload_sha256}"
        # No digest known (an upload whose input is gone): the run is a source of its own.
        return f"upload:run-{run_id}" if run_id is not None else "upload:unknown"
    connection = str(connection_id) if connection_id is not None else "unknown"
    if member_account:
        return f"org:{connection}:{member_account}"
    if kind == "organization":
        return f"org:{connection}"
    return f"connection:{connection}"


def key_for_new_run(source: str, fields: dict[str, Any]) -> str:
    """The key of a run about to be created with these AuditRun fields (audits.runs.start.start_run)."""
    connection = fields.get("connection")
    connection_id = fields.get("connection_id", connection.pk if connection is not None else None)
    target = fields.get("target") or {}
    return key_for(
        source,
        kind=str(fields.get("kind") or "account"),
        connection_id=connection_id,
        member_account=str(target.get("account_id") or "") if fields.get("parent") or fields.get("parent_id") else "",
    )


def upload_key(sha256: str) -> str:
    return key_for("snapshot", upload_sha256=sha256)


def short_digest(source_key: str) -> str:
    """The first characters of an upload's digest, to tell two files of the same name apart."""
    digest = source_key.removeprefix("upload:")
    return "" if digest == source_key or digest.startswith("run-") else digest[:SHORT_DIGEST]


def same_source_suppressions(source_key: str) -> Q:
    """Accepted risks that apply to a run of this source: those accepted on the same source, and those with no
    key (accepted before sources were kept, their run gone), which apply by account id as they always did."""
    if not source_key:
        return Q()  # a run without a key is matched by account id alone, as every run was before
    return Q(source_key=source_key) | Q(source_key="")


def label(run: AuditRun) -> str:
    """What a person recognises the source by: "Demo account", a connection's name, a file name and digest."""
    connection = run.connection if run.connection_id else None
    return label_of(run.source, run.source_key, run.snapshot_name, connection.name if connection else None)


def label_of(source: str, source_key: str, snapshot_name: str = "", connection_name: str | None = None) -> str:
    """label() from plain values, for lists read with .values()."""
    key = source_key or ""
    if source == "demo":
        return "Demo account"
    if source == "snapshot":
        digest = short_digest(key)
        name = snapshot_name or "uploaded snapshot"
        return f"{name} · sha256 {digest}" if digest else name
    connection = connection_name or "deleted connection"
    if key.startswith("org:"):
        # The member's account id is shown beside the label wherever a member run is listed.
        return f"{connection} organization" + (" member" if key.count(":") == 2 else "")
    return connection
