"""The path tasks queued before the run modules moved into audits/runs/ were stored under.

django-tasks-db stores each queued task by its dotted path ("audits.tasks.execute_audit") and imports it when a
worker takes the row, so that path must keep naming the task. New rows name audits.runs.worker.execute_audit."""

from audits.runs.worker import execute_audit as execute_audit
