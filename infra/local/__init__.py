"""Local emulator stack: DynamoDB Local, kinesis-mock and Redis as background processes.

Typical use::

    stack = LocalStack(LocalStackSettings())
    endpoints = stack.up()          # idempotent; reuses what is already running
    table = endpoints.dynamodb_client()
    ...
    stack.down()                    # stops only what this stack recorded
"""

from infra.local.processes import LocalStackError, PortInUseError, StartupError
from infra.local.settings import LocalStackSettings
from infra.local.stack import Endpoints, LocalStack, ServiceStatus

__all__ = [
    "Endpoints",
    "LocalStack",
    "LocalStackError",
    "LocalStackSettings",
    "PortInUseError",
    "ServiceStatus",
    "StartupError",
]
