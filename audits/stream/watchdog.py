"""Each web process looks for runs whose worker died, so no audit is left hanging."""

import asyncio
import logging

from django.conf import settings

from audits.runs.start import requeue_stale_runs
from audits.stream.db import run_db

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 15


async def watch_stale_runs() -> None:
    auto_resume = settings.AEGIS_AUTO_RESUME
    while True:
        try:
            taken = await run_db(requeue_stale_runs, auto_resume)
            if taken:
                log.warning("runs %s lost their worker; %s", taken, "requeued" if auto_resume else "interrupted")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stale-run sweep failed")
        await asyncio.sleep(SWEEP_EVERY_S)
