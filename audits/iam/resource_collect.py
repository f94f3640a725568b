"""Reading resource-based policies from a live account (the bundle shape is audits/iam/resources.py).

Collection reads every region the account has enabled, paginates every listing, and treats one refused call as a
warning naming the missing permission: the audit goes on with what it could read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from audits.iam.resources import block_settings, policy_document

CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10, read_timeout=60)
DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "AuthorizationErrorException",
}
# A region the account has not opted into answers with one of these: skip it, with a warning.
REGION_OFF = {"OptInRequired", "UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure"}
# "No policy" is an answer, not an error.
NO_POLICY = {
    "NoSuchBucketPolicy",
    "NoSuchPublicAccessBlockConfiguration",
    "RepositoryPolicyNotFoundException",
    "ResourceNotFoundException",
    "NoSuchEntity",
}

# Its return value is ignored: a caller may pass a function that returns something (stderr.write, emit).
Warn = Callable[[str], object]


def enabled_regions(session: Any, warn: Warn) -> list[str]:
    try:
        regions = session.client("ec2", config=CONFIG).describe_regions(AllRegions=False)["Regions"]
    except ClientError as exc:
        if _code(exc) not in DENIED:
            raise
        home = session.region_name or "us-east-1"
        warn(f"Missing permission ec2:DescribeRegions - resource policies read in {home} only")
        return [home]
    return sorted(r["RegionName"] for r in regions if r.get("OptInStatus") != "not-opted-in")


def collect_resources(session: Any, account_id: str, warn: Warn, regions: Iterable[str] | None = None) -> dict:
    """{"resources": [...], "account_block_public_access": {...} | None} for the account behind `session`."""
    regions = list(regions) if regions is not None else enabled_regions(session, warn)
    reader = _Reader(session, warn)
    resources = reader.s3_buckets()
    for region in regions:
        for read in (
            reader.kms_keys,
            reader.sqs_queues,
            reader.sns_topics,
            reader.lambda_functions,
            reader.secrets,
            reader.ecr_repositories,
        ):
            try:
                resources.extend(read(region))
            except _DeniedError:
                continue  # warned once; the other services may still be readable
            except _RegionOffError:
                warn(f"Region {region} is not enabled for this account - its resource policies were skipped")
                break
    return {"resources": resources, "account_block_public_access": reader.account_block(account_id)}


class _RegionOffError(Exception):
    pass


class _DeniedError(Exception):
    pass


class _Reader:
    def __init__(self, session: Any, warn: Warn) -> None:
        self.session, self.warn = session, warn
        self._warned: set[str] = set()

    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region_name=region, config=CONFIG)

    def call(self, permission: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One AWS call; None for "no policy", _DeniedError after warning once per permission."""
        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code in NO_POLICY:
                return None
            if code in DENIED:
                if permission not in self._warned:
                    self._warned.add(permission)
                    self.warn(f"Missing permission {permission} - those resource policies were not read")
                raise _DeniedError from None
            if code in REGION_OFF:
                raise _RegionOffError from None
            raise
        except EndpointConnectionError:
            raise _RegionOffError from None

    def pages(self, permission: str, client: Any, operation: str, key: str, **kwargs: Any) -> list:
        try:
            paginator = client.get_paginator(operation)
            return [item for page in paginator.paginate(**kwargs) for item in page.get(key, [])]
        except ClientError as exc:
            self.call(permission, _raise, exc=exc)
            return []

    def each(self, items: list, read: Callable[[Any], dict | None]) -> list[dict]:
        out = []
        for item in items:
            try:
                found = read(item)
            except _DeniedError:
                break  # one missing permission: the rest of this listing would be refused too
            if found is not None:
                out.append(found)
        return out

    def s3_buckets(self) -> list[dict]:
        s3 = self.client("s3")
        try:
            buckets = self.call("s3:ListAllMyBuckets", s3.list_buckets) or {}
        except (_DeniedError, _RegionOffError):
            return []

        def read(bucket: dict) -> dict:
            name = bucket["Name"]
            region = (self.call("s3:GetBucketLocation", s3.get_bucket_location, Bucket=name) or {}).get(
                "LocationConstraint"
            ) or "us-east-1"
            policy = (self.call("s3:GetBucketPolicy", s3.get_bucket_policy, Bucket=name) or {}).get("Policy")
            block = self.call("s3:GetBucketPublicAccessBlock", s3.get_public_access_block, Bucket=name) or {}
            return {
                "type": "s3:bucket",
                "arn": f"arn:aws:s3:::{name}",
                "region": region,
                "name": name,
                "policy": policy_document(policy, f"bucket {name}"),
                "block_public_access": block_settings(block.get("PublicAccessBlockConfiguration"), f"bucket {name}"),
            }

        return self.each(buckets.get("Buckets", []), read)

    def account_block(self, account_id: str) -> dict | None:
        try:
            found = self.call(
                "s3:GetAccountPublicAccessBlock", self.client("s3control").get_public_access_block, AccountId=account_id
            )
        except (_DeniedError, _RegionOffError):
            return None
        return block_settings((found or {}).get("PublicAccessBlockConfiguration"), "account public access block")

    def kms_keys(self, region: str) -> list[dict]:
        kms = self.client("kms", region)
        keys = self.pages("kms:ListKeys", kms, "list_keys", "Keys")

        def read(key: dict) -> dict:
            found = self.call("kms:GetKeyPolicy", kms.get_key_policy, KeyId=key["KeyId"], PolicyName="default")
            return {
                "type": "kms:key",
                "arn": key["KeyArn"],
                "region": region,
                "name": key["KeyId"],
                "policy": policy_document((found or {}).get("Policy"), f"key {key['KeyId']}"),
            }

        return self.each(keys, read)

    def sqs_queues(self, region: str) -> list[dict]:
        sqs = self.client("sqs", region)
        urls = self.pages("sqs:ListQueues", sqs, "list_queues", "QueueUrls")

        def read(url: str) -> dict:
            attrs = (
                self.call(
                    "sqs:GetQueueAttributes",
                    sqs.get_queue_attributes,
                    QueueUrl=url,
                    AttributeNames=["Policy", "QueueArn"],
                )
                or {}
            ).get("Attributes", {})
            arn = attrs.get("QueueArn") or url
            return {
                "type": "sqs:queue",
                "arn": arn,
                "region": region,
                "name": url.rsplit("/", 1)[-1],
                "policy": policy_document(attrs.get("Policy"), f"queue {url}"),
            }

        return self.each(urls, read)

    def sns_topics(self, region: str) -> list[dict]:
        sns = self.client("sns", region)
        topics = self.pages("sns:ListTopics", sns, "list_topics", "Topics")

        def read(topic: dict) -> dict:
            arn = topic["TopicArn"]
            attrs = (self.call("sns:GetTopicAttributes", sns.get_topic_attributes, TopicArn=arn) or {}).get(
                "Attributes", {}
            )
            return {
                "type": "sns:topic",
                "arn": arn,
                "region": region,
                "name": arn.rsplit(":", 1)[-1],
                "policy": policy_document(attrs.get("Policy"), f"topic {arn}"),
            }

        return self.each(topics, read)

    def lambda_functions(self, region: str) -> list[dict]:
        client = self.client("lambda", region)
        functions = self.pages("lambda:ListFunctions", client, "list_functions", "Functions")

        def read(fn: dict) -> dict:
            found = self.call("lambda:GetPolicy", client.get_policy, FunctionName=fn["FunctionName"])
            return {
                "type": "lambda:function",
                "arn": fn["FunctionArn"],
                "region": region,
                "name": fn["FunctionName"],
                "role": fn.get("Role", ""),
                "policy": policy_document((found or {}).get("Policy"), f"function {fn['FunctionName']}"),
            }

        return self.each(functions, read)

    def secrets(self, region: str) -> list[dict]:
        client = self.client("secretsmanager", region)
        secrets = self.pages("secretsmanager:ListSecrets", client, "list_secrets", "SecretList")

        def read(secret: dict) -> dict:
            found = self.call("secretsmanager:GetResourcePolicy", client.get_resource_policy, SecretId=secret["ARN"])
            return {
                "type": "secretsmanager:secret",
                "arn": secret["ARN"],
                "region": region,
                "name": secret.get("Name", ""),
                "policy": policy_document((found or {}).get("ResourcePolicy"), f"secret {secret.get('Name')}"),
            }

        return self.each(secrets, read)

    def ecr_repositories(self, region: str) -> list[dict]:
        client = self.client("ecr", region)
        repos = self.pages("ecr:DescribeRepositories", client, "describe_repositories", "repositories")

        def read(repo: dict) -> dict:
            found = self.call(
                "ecr:GetRepositoryPolicy", client.get_repository_policy, repositoryName=repo["repositoryName"]
            )
            return {
                "type": "ecr:repository",
                "arn": repo["repositoryArn"],
                "region": region,
                "name": repo["repositoryName"],
                "policy": policy_document((found or {}).get("policyText"), f"repository {repo['repositoryName']}"),
            }

        return self.each(repos, read)


def _raise(exc: Exception) -> None:
    raise exc


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")
