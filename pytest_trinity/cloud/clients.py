"""boto3 clients for a target's AWS side: its region, its endpoint (moto locally), bounded calls.

Credentials come from boto3's usual chain (environment, profile, instance role); they are
never read, logged or stored by pytest-trinity. Every call has a connect and read timeout and
a bounded number of retries, so a run against an unreachable endpoint fails in seconds, not
hangs.
"""

from __future__ import annotations

from typing import Any

from pytest_trinity.targets import AwsIds

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
MAX_ATTEMPTS = 3


class CloudError(RuntimeError):
    """An AWS call failed; the message names the call, the resource and what AWS said."""


def client(aws: AwsIds, service: str) -> Any:
    """A boto3 client for `service` ("cloudwatch", "ecs", "ec2", "pi", …) of the target."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"})
    return boto3.client(service, region_name=aws.region, endpoint_url=aws.endpoint_for(service), config=config)


def describe_error(exc: BaseException, call: str) -> CloudError:
    """A `CloudError` for a failed boto3 call: the AWS error code and message, never a traceback."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        return CloudError(f"{call}: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "))
    return CloudError(f"{call}: {type(exc).__name__}: {exc}")
