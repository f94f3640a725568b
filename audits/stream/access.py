"""Who holds open streams: per-user limits, fair opens, and the grants the hub re-checks.

Every open stream holds a Lease on a Grant, one Grant per distinct (credential, run, user): a
hundred tabs of one session on one run are one Grant, so the heartbeat's re-check costs one
batched read for all of them. The registry is plain data owned by the event loop thread.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from django.conf import settings

from audits.stream import auth
from audits.stream.auth import Credential, Identity
from audits.stream.db import run_db
from audits.stream.errors import StreamError

log = logging.getLogger(__name__)

type GrantKey = tuple[Credential, int, int]


@dataclass(eq=False)
class Grant:
    key: GrantKey
    streams: int = 0
    closed: Identity | None = None  # set by a heartbeat that found this access gone

    @property
    def run_id(self) -> int:
        return self.key[1]


_grants: dict[GrantKey, Grant] = {}
_streams_per_user: Counter[int] = Counter()


class Lease:
    """One open stream's hold on its grant and on its user's stream count; release() is idempotent."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        grant = self.grant
        grant.streams -= 1
        if grant.streams <= 0 and _grants.get(grant.key) is grant:
            del _grants[grant.key]
        user_id = grant.key[2]
        _streams_per_user[user_id] -= 1
        if _streams_per_user[user_id] <= 0:
            del _streams_per_user[user_id]


def admit(credential: Credential, run_id: int, user_id: int) -> Lease:
    limit = settings.AEGIS_MAX_STREAMS_PER_USER
    if _streams_per_user[user_id] >= limit:
        raise StreamError(
            429,
            f"Too many open streams: at most {limit} per account. Close other tabs following audits and retry.",
            {"Retry-After": str(settings.AEGIS_SSE_HEARTBEAT_S)},
        )
    key = (credential, run_id, user_id)
    grant = _grants.get(key)
    if grant is None:
        grant = _grants[key] = Grant(key)
    grant.streams += 1
    _streams_per_user[user_id] += 1
    return Lease(grant)


def open_streams(user_id: int) -> int:
    return _streams_per_user[user_id]


async def recheck_all() -> set[int]:
    """Re-validate every open grant in one DB trip; returns the runs whose viewers must be woken."""
    if not _grants:
        return set()
    verdicts = await run_db(auth.recheck, list(_grants))
    closed = set()
    for key, identity in verdicts.items():
        grant = _grants.get(key)
        if grant is not None and identity.user is None and grant.closed is None:
            grant.closed = identity
            closed.add(grant.run_id)
            log.info("closing streams of run %s: %s", grant.run_id, identity.reason)
    return closed


# At most this many opens per credential wait for the DB pool at once; the rest wait here, so a
# burst from one session queues behind itself instead of in front of everybody else.
OPENS_IN_FLIGHT = 2


@dataclass(eq=False)
class _Slot:
    semaphore: asyncio.Semaphore
    users: int = 0


_open_slots: dict[Credential, _Slot] = {}


@asynccontextmanager
async def open_slot(credential: Credential) -> AsyncIterator[None]:
    slot = _open_slots.get(credential)
    if slot is None:
        slot = _open_slots[credential] = _Slot(asyncio.Semaphore(OPENS_IN_FLIGHT))
    slot.users += 1
    try:
        async with slot.semaphore:
            yield
    finally:
        slot.users -= 1
        if slot.users == 0 and _open_slots.get(credential) is slot:
            del _open_slots[credential]
