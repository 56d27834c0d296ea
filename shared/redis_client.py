"""Build a redis-py client from REDIS_URL; the URL's scheme picks the topology.

redis://host:port/db and rediss:// (TLS)             one server (ElastiCache primary endpoint)
redis+sentinel://[user:pass@]h1:p1,h2:p2/service      Sentinel discovers the current primary
redis+cluster://[user:pass@]h1:p1,h2:p2               Redis Cluster (ElastiCache cluster mode)

Reconnection and backoff are redis-py's own Retry; nothing here loops by hand.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

RedisClient = redis.Redis | RedisCluster

SOCKET_TIMEOUT_SECONDS = 2.0
RETRIES = 3


def _retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), RETRIES)


def _hosts(netloc: str) -> list[tuple[str, int]]:
    hosts = []
    for part in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = part.rpartition(":")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port)))
    return hosts


def _credentials(netloc: str) -> dict[str, str]:
    if "@" not in netloc:
        return {}
    userinfo = netloc.rsplit("@", 1)[0]
    user, sep, password = userinfo.partition(":")
    if not sep:
        return {"password": unquote(user)}
    return {"username": unquote(user), "password": unquote(password)} if user else {"password": unquote(password)}


def create_redis_client(url: str, **overrides: Any) -> RedisClient:
    common: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
        "retry": _retry(),
        "health_check_interval": 30,
    }
    common.update(overrides)
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss", "unix"):
        return redis.Redis.from_url(url, **common)
    credentials = _credentials(parts.netloc)
    if parts.scheme in ("redis+sentinel", "rediss+sentinel"):
        service = parts.path.strip("/")
        if not service:
            raise ValueError("a redis+sentinel:// URL must end with /<service name>")
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            _hosts(parts.netloc),
            sentinel_kwargs={"socket_timeout": SOCKET_TIMEOUT_SECONDS},
            ssl=parts.scheme.startswith("rediss"),
            **credentials,
            **common,
        )
        primary: redis.Redis = sentinel.master_for(service)  # type: ignore[no-untyped-call]
        return primary
    if parts.scheme in ("redis+cluster", "rediss+cluster"):
        nodes = [ClusterNode(host, port) for host, port in _hosts(parts.netloc)]  # type: ignore[no-untyped-call]
        cluster_options: dict[str, Any] = {**credentials, **common, "ssl": parts.scheme.startswith("rediss")}
        return RedisCluster(startup_nodes=nodes, **cluster_options)
    raise ValueError(f"unsupported REDIS_URL scheme {parts.scheme!r}")
