"""POST /api/v1/simulate: the offline policy simulator over the API (docs/simulate.md).

The body is the same JSON as `manage.py audit simulate --input` (IAM's SimulateCustomPolicy parameters), the answer
AWS's {"EvaluationResults": [...], "IsTruncated": false}. Any token may ask (it reads nothing of the account and
changes nothing). The evaluator runs in the web process, so the body and the work it asks for are bounded.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from audits.iam.simulate import SimulationError, load_request, simulate, work
from audits.views.api import _error, token_required

MAX_BODY_BYTES = 256 * 1024
# Pairs times statements (simulate.work): 100 actions x 100 resources over 20 statements, about two seconds of CPU.
MAX_WORK = 200_000


def _too_large() -> JsonResponse:
    return _error(413, f"The request body is over {MAX_BODY_BYTES // 1024} KB; send fewer or smaller policies.")


@token_required
@require_POST
def simulate_view(request: HttpRequest) -> JsonResponse:
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _error(400, "Content-Length must be a number.")
    if declared > MAX_BODY_BYTES:  # refused before the body is read
        return _too_large()
    try:
        body = request.body
    except RequestDataTooBig:
        return _too_large()
    if len(body) > MAX_BODY_BYTES:  # a body sent without Content-Length
        return _too_large()
    try:
        asked = load_request(body)
    except SimulationError as exc:
        return _error(400, str(exc))
    cost = work(asked)
    if cost > MAX_WORK:
        return _error(
            400,
            f"This request asks for {cost:,} statement evaluations; the limit is {MAX_WORK:,}: "
            "ask about fewer actions or resources at once.",
        )
    return JsonResponse(simulate(asked))
