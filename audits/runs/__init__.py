"""A run's life outside the engine, one module per job, in the order the imports go (each uses only those after it):

- start: every way a run becomes queued (portal, API, schedule, retry, resume, requeue after a dead worker), within
  the owner's limit, handed to a worker on commit. retry: Retry's new run of the same input, created once.
- worker: the task a worker executes (claim, load the input, drive the engine, record the end) and `enqueue`, the
  one place a run is handed to the task backend (an organization run queues its accounts from here).
- organization: what an organization run's accounts report to it, and its completion, pause and cancel.
- status: the conditional UPDATEs that move a run between states without queueing it.
- results: a finished run's score, counts and result stated again when a reviewer accepts a risk on it.
- recorder: each event stored with its finding, progress and checkpoint; inputs: the run's stored snapshot;
  limits: the active-run limit; sources: what a run audited (its source key); access: which runs a person may see.

Kept outside: schedules (it starts runs through start, as the views do, and owns the Schedule model's due times),
uploads (the web request's body handling), and the pages (audits.views).
"""
