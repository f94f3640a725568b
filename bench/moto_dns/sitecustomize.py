"""Loaded (through PYTHONPATH) by the processes of bench/org_scale.py only: real AWS answers DNS for the
account-prefixed S3 Control host `<account>.s3-control.<region>.amazonaws.com`; against a moto server, botocore asks
for `<account>.127.0.0.1`, which nothing resolves (moto's docs suggest an /etc/hosts line per account). Without this,
every account's public-access-block lookup would sit in connection retries, and the bench would time those sleeps
instead of the audit."""

import socket
from typing import Any

_getaddrinfo = socket.getaddrinfo


def _resolve_account_prefixed_loopback(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host.endswith(".127.0.0.1"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _resolve_account_prefixed_loopback
