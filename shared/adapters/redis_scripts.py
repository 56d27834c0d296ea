"""What the Redis adapters share: their Lua scripts and the Redis failures they translate."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from shared.adapters.redis_client import RedisClient

LUA_DIR = Path(__file__).with_name("lua")
REDIS_FAILURES = (RedisError, RedisClusterException)


def lua_source(*names: str) -> str:
    """The text of shared/adapters/lua/<name>, several joined in order (a script after the helpers it calls)."""
    return "\n".join((LUA_DIR / name).read_text() for name in names)


class ReadOnlyScript:
    """A Lua script that only reads, run with EVALSHA_RO (Redis 7+): a Redis user allowed nothing
    but reads may run it. EVAL_RO loads it where it is missing, so no SCRIPT LOAD is needed."""

    def __init__(self, client: RedisClient, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return self._client.evalsha_ro(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            return self._client.eval_ro(self._source, len(keys), *keys, *args)
