"""Build a redis-py client from REDIS_URL; the URL's scheme picks the topology.

redis://[user:pass@]host:port/db and rediss:// (TLS)   one server (ElastiCache primary endpoint)
redis+sentinel://[user:pass@]h1:p1,h2:p2/service       Sentinel discovers the current primary
redis+cluster://[user:pass@]h1:p1,h2:p2                Redis Cluster (ElastiCache cluster mode)
rediss+sentinel:// and rediss+cluster://               the same with TLS to the data nodes

Credentials come from the URL, or from a Secrets Manager secret / SSM SecureString named by
REDIS_SECRET_ARN (read through Powertools Parameters, cached), never from both.
Discovery, failover and reconnection with backoff are redis-py's own; nothing here loops by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.credentials import CredentialProvider
from redis.retry import Retry
from redis.sentinel import Sentinel

RedisClient = redis.Redis | RedisCluster

# New connections re-read the secret at most this often, so a rotated password reaches a warm
# container within minutes without a Secrets Manager call per connection.
SECRET_MAX_AGE_SECONDS = 300

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


@dataclass(frozen=True, slots=True)
class RedisTimeouts:
    """How long one Redis command may take: a socket timeout per attempt, retried with backoff."""

    socket_seconds: float = 2.0
    retries: int = 3
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 1.0

    def retry(self) -> Retry:
        backoff = ExponentialWithJitterBackoff(base=self.backoff_base_seconds, cap=self.backoff_cap_seconds)
        return Retry(backoff, self.retries)

    def worst_case_seconds(self) -> float:
        """The longest one command takes against a server that stopped answering before it fails.

        Each attempt waits one socket timeout (the connect, or the read on a server that accepted
        the connection and then stalled); between attempts redis-py sleeps up to
        min(cap, base * 2**failures). Sentinel and Cluster discovery come on top.
        """
        backoffs = sum(
            min(self.backoff_cap_seconds, self.backoff_base_seconds * (1 << failures))
            for failures in range(1, self.retries + 1)
        )
        return (self.retries + 1) * self.socket_seconds + backoffs


def text_of(reply: bytes | str) -> str:
    """A Redis reply as text, whether the client decodes responses or not."""
    return reply.decode() if isinstance(reply, bytes) else reply


def parse_hosts(netloc: str) -> list[tuple[str, int]]:
    """`[userinfo@]h1:p1,h2:p2` -> [(h1, p1), (h2, p2)]; IPv6 hosts in brackets."""
    hosts = []
    for part in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = part.rpartition(":")
        if not port.isdigit():
            raise ValueError(f"REDIS_URL host {part!r} needs a port")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port)))
    return hosts


def parse_userinfo(netloc: str) -> tuple[str, ...]:
    """() without credentials, (password,) or (username, password), percent-decoded."""
    if "@" not in netloc:
        return ()
    user, sep, password = netloc.rsplit("@", 1)[0].partition(":")
    if not sep:
        return (unquote(user),)
    return (unquote(user), unquote(password)) if user else (unquote(password),)


def parse_secret(value: str | bytes | dict[str, Any]) -> tuple[str] | tuple[str, str]:
    """A secret as (password,) or (username, password): JSON {"username"?, "password"} or the bare password."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            if not text:
                raise ValueError("the Redis secret is empty")
            return (text,)
        value = json.loads(text)
    if not isinstance(value, dict) or not isinstance(value.get("password"), str) or not value["password"]:
        raise ValueError('a JSON Redis secret needs a non-empty "password" (and optionally "username")')
    username = value.get("username")
    return (str(username), value["password"]) if username else (value["password"],)


class ParameterCredentials(CredentialProvider):
    """Redis credentials from Secrets Manager or an SSM SecureString, through Powertools Parameters.

    Read once when the client is created (a wrong ARN or a missing permission fails the cold
    start, not the first request) and then served from Powertools' cache; redis-py asks again
    only when it opens a connection.
    """

    def __init__(self, reference: str, *, max_age_seconds: int = SECRET_MAX_AGE_SECONDS) -> None:
        # Imported here, not at module level: Parameters loads boto3, about 0.2 s of every cold
        # start, which functions without a secret should not pay.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

        self.reference = reference
        # A provider of our own (not Powertools' module-wide default) keeps the boto3 client that
        # matches this client's environment, e.g. AWS_ENDPOINT_URL.
        ssm_name = _ssm_parameter_name(reference)
        self._fetch: Callable[[], str | bytes | dict[str, Any] | None] = (
            partial(SSMProvider().get, ssm_name, max_age=max_age_seconds, decrypt=True)
            if ssm_name
            else partial(SecretsProvider().get, reference, max_age=max_age_seconds)
        )
        self.get_credentials()

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

        try:
            value = self._fetch()
        except (GetParameterError, TransformParameterError) as error:
            # A Redis error, so callers treat it like an unreachable server (503, batch retried).
            raise redis.exceptions.ConnectionError(
                f"cannot read Redis credentials from {self.reference}: {error}"
            ) from error
        if value is None:
            raise redis.exceptions.ConnectionError(f"{self.reference} holds no value")
        return parse_secret(value)


def _ssm_parameter_name(reference: str) -> str | None:
    """The parameter name of an SSM parameter ARN (arn:aws:ssm:region:account:parameter/name), else None."""
    parts = reference.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ssm" or not parts[5].startswith("parameter/"):
        return None
    path = parts[5].removeprefix("parameter/")
    # The ARN of a hierarchical name (/a/b) drops its leading slash: parameter/a/b.
    return f"/{path}" if "/" in path else path


def _credential_options(url_credentials: tuple[str, ...], secret_reference: str) -> dict[str, Any]:
    if secret_reference:
        if url_credentials:
            raise ValueError("REDIS_URL carries credentials and REDIS_SECRET_ARN is set: use one of them")
        return {"credential_provider": ParameterCredentials(secret_reference)}
    if len(url_credentials) == 2:
        return {"username": url_credentials[0], "password": url_credentials[1]}
    if url_credentials:
        return {"password": url_credentials[0]}
    return {}


def create_redis_client(
    url: str, *, secret_reference: str = "", timeouts: RedisTimeouts | None = None, **overrides: Any
) -> RedisClient:
    """A client for `url`; `secret_reference` (REDIS_SECRET_ARN) supplies the credentials instead of the URL.

    No health-check PING: it runs under its own retry inside the command's retry, so against a
    stalled server one command would take retries² socket timeouts instead of `timeouts`'s
    worst case. A dead connection is found by the command's own retry, which reconnects.
    """
    timeouts = timeouts or RedisTimeouts()
    common: dict[str, Any] = {
        "socket_timeout": timeouts.socket_seconds,
        "socket_connect_timeout": timeouts.socket_seconds,
        "retry": timeouts.retry(),
    }
    parts = urlsplit(url)
    common.update(_credential_options(parse_userinfo(parts.netloc), secret_reference))
    common.update(overrides)
    if parts.scheme in ("redis", "rediss", "unix"):
        return redis.Redis.from_url(url, **common)
    if parts.scheme in SENTINEL_SCHEMES:
        service = parts.path.strip("/")
        if not service:
            raise ValueError("a redis+sentinel:// URL must end with /<service name>")
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            parse_hosts(parts.netloc),
            sentinel_kwargs={"socket_timeout": timeouts.socket_seconds},
            ssl=parts.scheme.startswith("rediss"),
            **common,
        )
        primary: redis.Redis = sentinel.master_for(service)  # type: ignore[no-untyped-call]
        return primary
    if parts.scheme in CLUSTER_SCHEMES:
        nodes = [ClusterNode(host, port) for host, port in parse_hosts(parts.netloc)]  # type: ignore[no-untyped-call]
        return RedisCluster(startup_nodes=nodes, ssl=parts.scheme.startswith("rediss"), **common)
    raise ValueError(f"unsupported REDIS_URL scheme {parts.scheme!r}")
