from django.tasks import task

from audits import runner


@task()
def execute_audit(run_id: int) -> str:
    """Run (or resume) one audit; a run already claimed elsewhere is left alone."""
    return runner.execute(run_id)
