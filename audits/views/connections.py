"""AWS connections: add one, paste the trust policy it needs, verify it, delete it.

The trust policy names the principal Aegis really runs as: AEGIS_AWS_PRINCIPAL_ARN when the operator sets it, else
what sts:GetCallerIdentity says about the server's own credentials (an assumed-role session converted to its role,
with the role's path from iam:GetRole when the server may read it). Never a placeholder, never an account root.
When the principal cannot be known, the page says so as the operator's problem instead of showing a policy.

Verify separates the two audiences: what the portal user must fix in their account (trust policy, ExternalId, role
ARN) and what the operator must fix on the server (no or invalid AWS credentials, AWS unreachable).
"""

import json
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits.forms import ConnectionForm
from audits.models import AwsConnection
from audits.views.schedules import ScheduleForm, schedule_of_connection

PRINCIPAL_TTL_S = 3600
PRINCIPAL_ERROR_TTL_S = 60  # an operator fixing credentials should not wait an hour to see it work
ASSUMED_ROLE = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[^/]+$")
IAM_PRINCIPAL = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:(role|user)/")
# Errors of the server's own credentials, whatever role is being assumed: the operator's to fix.
OPERATOR_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "UnrecognizedClientException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "RequestExpired",
    "AccessDeniedException",
}
USER_LABEL = "In your AWS account"
OPERATOR_LABEL = "On the Aegis server (for its operator)"


# --- the principal Aegis runs as --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    arn: str = ""
    error: str = ""  # the operator's problem, when arn is empty


_cache: dict[str, tuple[float, Principal]] = {}
_lock = threading.Lock()


def _sts_client():
    import boto3

    # A fresh session reads the credential chain now: boto3's default session would keep the first ones it found.
    return boto3.Session().client("sts", region_name="us-east-1")


def _iam_client():
    import boto3

    return boto3.Session().client("iam", region_name="us-east-1")


def aegis_principal() -> Principal:
    configured = (getattr(settings, "AEGIS_AWS_PRINCIPAL_ARN", "") or "").strip()
    if configured:
        if not IAM_PRINCIPAL.match(configured):
            return Principal(
                error=f"AEGIS_AWS_PRINCIPAL_ARN is {configured!r}, which is not an IAM role or user "
                "ARN (arn:aws:iam::<account>:role/<name>)."
            )
        return Principal(arn=configured)
    with _lock:
        cached = _cache.get("principal")
        if cached and cached[0] > time.monotonic():
            return cached[1]
    found = _caller_principal()
    with _lock:
        _cache["principal"] = (time.monotonic() + (PRINCIPAL_TTL_S if found.arn else PRINCIPAL_ERROR_TTL_S), found)
    return found


def forget_principal() -> None:
    with _lock:
        _cache.clear()


def _caller_principal() -> Principal:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        arn = _sts_client().get_caller_identity()["Arn"]
    except NoCredentialsError:
        return Principal(
            error="The Aegis server has no AWS credentials, so it cannot assume customer roles. "
            "Give the server a role or credentials, or set AEGIS_AWS_PRINCIPAL_ARN."
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Principal(
            error=f"AWS refused the server's own credentials ({error.get('Code', 'Error')}: "
            f"{error.get('Message', '')})."
        )
    except BotoCoreError as exc:
        return Principal(error=f"The Aegis server could not reach AWS STS: {exc}")
    return _principal_from_caller(arn)


def _principal_from_caller(arn: str) -> Principal:
    match = ASSUMED_ROLE.match(arn)
    if match:
        partition, account, role = match.groups()
        return Principal(arn=_role_arn_with_path(role) or f"arn:{partition}:iam::{account}:role/{role}")
    if IAM_PRINCIPAL.match(arn):
        return Principal(arn=arn)
    if arn.endswith(":root"):
        return Principal(
            error="The Aegis server runs with the AWS account root user's credentials. Customers must "
            "not trust a whole account: run Aegis as an IAM role (or user), or set "
            "AEGIS_AWS_PRINCIPAL_ARN."
        )
    return Principal(
        error=f"The Aegis server runs as {arn}, which a trust policy cannot name; run it as an IAM "
        "role or user, or set AEGIS_AWS_PRINCIPAL_ARN."
    )


def _role_arn_with_path(role_name: str) -> str:
    """A role's ARN carries its path (role/service/x), the session ARN does not; ask IAM when allowed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(_iam_client().get_role(RoleName=role_name)["Role"]["Arn"])
    except (ClientError, BotoCoreError, KeyError):
        return ""


def trust_policy(connection: AwsConnection, principal_arn: str) -> str:
    """The trust policy the account owner pastes into the role: only Aegis, only with this ExternalId."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": connection.external_id}},
            }
        ],
    }
    return json.dumps(policy, indent=2)


# --- verification ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    account_id: str = ""
    user_error: str = ""  # what the portal user fixes in their account
    operator_error: str = ""  # what the operator fixes on the server

    @property
    def ok(self) -> bool:
        return bool(self.account_id) and not self.user_error and not self.operator_error

    def text(self) -> str:
        if self.operator_error:
            return f"{OPERATOR_LABEL}: {self.operator_error}"
        return f"{USER_LABEL}: {self.user_error}"


def verify_role(connection: AwsConnection) -> Verification:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    principal = aegis_principal()
    if not principal.arn:
        return Verification(operator_error=principal.error)
    try:
        credentials = _sts_client().assume_role(
            RoleArn=connection.role_arn,
            RoleSessionName="aegis-verify",
            ExternalId=connection.external_id,
            DurationSeconds=900,
        )["Credentials"]
        import boto3

        identity = boto3.client(
            "sts",
            region_name="us-east-1",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        ).get_caller_identity()
    except NoCredentialsError:
        return Verification(
            operator_error="The Aegis server has no AWS credentials configured, so it cannot "
            "assume roles yet. Nothing is wrong in your account."
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, text = error.get("Code", "Error"), error.get("Message", str(exc))
        if code in OPERATOR_CODES:
            return Verification(operator_error=f"AWS rejected the server's own credentials ({code}: {text}).")
        return Verification(user_error=_user_advice(connection, principal.arn, code, text))
    except BotoCoreError as exc:
        return Verification(operator_error=f"The Aegis server could not reach AWS: {exc}")
    return Verification(account_id=str(identity.get("Account", "")))


def _user_advice(connection: AwsConnection, principal: str, code: str, text: str) -> str:
    account = connection.role_arn.split(":")[4] if connection.role_arn.count(":") >= 5 else "the account"
    if code == "AccessDenied":
        return (
            f"AWS refused to let Aegis assume {connection.role_arn} ({text}). In account {account}, check that "
            f"the role exists with exactly this ARN, that its trust policy names {principal} as the principal "
            f"and requires sts:ExternalId {connection.external_id} (paste the policy below), and that no SCP "
            "blocks it."
        )
    if code == "ValidationError":
        return f"AWS says the role ARN is not valid ({text}). Check the role ARN of this connection."
    if code == "RegionDisabledException":
        return f"STS is disabled in the region for account {account} ({text}); enable it in the account settings."
    return f"AWS answered {code}: {text}. Check the role ARN and its trust policy in account {account}."


# --- views -----------------------------------------------------------------------------------------------------------


def _get_connection(request: HttpRequest, pk: int) -> AwsConnection:
    return get_object_or_404(AwsConnection, pk=pk, owner=request.user)


@login_required
@require_http_methods(["GET", "POST"])
def connection_list(request: HttpRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        connection = form.save(commit=False)
        connection.owner = request.user
        connection.save()
        messages.success(
            request, f"Connection “{connection.name}” added. Paste the trust policy into the role, then verify."
        )
        return redirect("audits:connection", pk=connection.pk)
    connections = AwsConnection.objects.filter(owner=request.user)
    status = 400 if request.method == "POST" else 200
    return render(request, "audits/connections.html", {"form": form, "connections": connections}, status=status)


@login_required
@require_GET
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk)
    principal = aegis_principal()
    error_for, _, error_text = connection.last_error.partition(": ")
    schedule = schedule_of_connection(connection)
    return render(
        request,
        "audits/connection_detail.html",
        {
            "connection": connection,
            "principal": principal,
            "trust_policy": trust_policy(connection, principal.arn) if principal.arn else "",
            "error_is_operator": error_for == OPERATOR_LABEL,
            "error_label": error_for if error_text else USER_LABEL,
            "error_text": error_text or connection.last_error,
            "schedule": schedule,
            "schedule_form": ScheduleForm.for_schedule(schedule),
        },
    )


@login_required
@require_POST
def connection_verify(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk)
    result = verify_role(connection)
    if result.ok:
        connection.account_id = result.account_id
        connection.verified_at = timezone.now()
        connection.last_error = ""
        connection.save(update_fields=["account_id", "verified_at", "last_error"])
        messages.success(request, f"Verified: Aegis can assume the role in account {result.account_id}.")
    else:
        # A failed check also withdraws an earlier verification: audits need a connection that works now.
        connection.last_error = result.text()
        connection.save(update_fields=["last_error"])
        messages.error(request, f"Aegis could not assume the role. {result.text()}")
    return redirect("audits:connection", pk=connection.pk)


@login_required
@require_POST
def connection_delete(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk)
    connection.delete()
    messages.success(request, f"Connection “{connection.name}” deleted.")
    return redirect("audits:connections")
