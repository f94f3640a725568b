"""The only place stream code touches the database: small fixed thread pools.

DB connections and threads stay flat however many viewers wait. Replays page through long logs,
so they read on a pool of their own and a burst of replays cannot queue the opens of live streams.
"""

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, connection

_db_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aegis-hub-db")
_replay_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aegis-replay-db")


def _call_with_reconnect[T](fn: Callable[..., T], *args: Any) -> T:
    # The pool's connections stay open between calls (reopening one cost more than the query);
    # a connection the database dropped is replaced once.
    try:
        return fn(*args)
    except (InterfaceError, OperationalError):
        if connection.in_atomic_block:
            raise
        connection.close()
        return fn(*args)


async def run_db[T](fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_db_pool, _call_with_reconnect, fn, *args)


async def run_replay_db[T](fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_replay_pool, _call_with_reconnect, fn, *args)


async def in_request_thread[T](fn: Callable[..., T], *args: Any) -> T:
    """Django's way for a view: its request thread and connection (so the test client's open
    transaction is visible). The fallback views read with this instead of the pools."""
    return await sync_to_async(fn)(*args)


type DbRunner = Callable[..., Awaitable[Any]]
