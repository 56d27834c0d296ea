"""Where a running `python -m local_runtime run` (or `demo`) serves: its status line, and a state
file through which `invoke` finds and uses its servers.

The stack writes `stack.json` into its work dir (`.run/local/` by default) once it is ready and
removes it when it stops. The file is readable by its owner only: a REDIS_URL may hold a password.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local_runtime.stack import RunningStack

STATE_FILE = "stack.json"


@dataclass(frozen=True)
class StackEndpoints:
    pid: int
    api_url: str
    redis_url: str
    kafka_bootstrap: str
    aws_endpoint_url: str

    def server_environ(self) -> dict[str, str]:
        """The variables that point the local runtime at these servers instead of starting its own."""
        return {
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
        }


def publish(workdir: Path, endpoints: StackEndpoints) -> Path:
    path = Path(workdir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(asdict(endpoints), file)
    partial.replace(path)
    return path


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def find_running(workdir: Path) -> StackEndpoints | None:
    """The endpoints of the stack serving from `workdir`, if its process is still alive."""
    try:
        document = json.loads((Path(workdir) / STATE_FILE).read_text())
        endpoints = StackEndpoints(**document)
    except (OSError, ValueError, TypeError):
        return None
    return endpoints if _alive(endpoints.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def servers_line(stack: RunningStack) -> str:
    """The status line `make run` prints under the ready line: each server, and whether it started it."""
    servers = stack.servers
    redis_origin = f"{servers.redis.binary.version}, started" if servers.redis else "from REDIS_URL"
    kafka_origin = "started" if servers.kafka else "from KAFKA_BOOTSTRAP_SERVERS"
    aws_origin = "moto, started" if servers.moto else "from AWS_ENDPOINT_URL or LOCALSTACK_HOST"
    return (
        f"servers: redis {without_password(stack.redis_url)} ({redis_origin}), "
        f"kafka {stack.kafka_bootstrap} ({kafka_origin}, topic {stack.topic}), "
        f"aws {stack.aws_endpoint_url} ({aws_origin})"
    )


def without_password(url: str) -> str:
    """`url` with any user:password@ part masked, for printing."""
    scheme, separator, rest = url.partition("://")
    location, slash, path = rest.partition("/")
    if not separator or "@" not in location:
        return url
    return f"{scheme}://***@{location.rsplit('@', 1)[1]}{slash}{path}"
