from django.tasks import task


@task()
def execute_audit(run_id: int) -> str:
    """Run (or resume) one audit; a run already claimed elsewhere is left alone."""
    # Imported here: the runner queues work through run_status, which imports this module.
    from audits.runs import worker

    return worker.execute(run_id)
