"""The live push's state in Redis: the connection registry and the push memory.

Why Redis and not a DynamoDB table: every function already reaches Redis inside the VPC (no
endpoint, table or IAM policy more), and a key's expiry is exact where DynamoDB's TTL deletes
up to days late. Each entry expires CONNECTION_TTL after its last write: an API Gateway
connection lives 2 h at most, so a disconnect that never came costs a stale entry for that long
at worst, and the first push to it (410 Gone) removes it sooner.

- `lb:live:conn:<id>`: hash {ip, window}; `lb:live:ip:<ip>`: sorted set of that IP's
  connections scored by expiry; `lb:live:subs:<window>`: hash connection -> JSON {user_id, until}.
- Push memory per board: a claim key (SET NX PX) per push interval, a trailing-push claim, the
  last pushed top 10's digest and a hash player -> "rank:points" last pushed.
"""

from __future__ import annotations

from typing import Any

import orjson

from shared.adapters.keys import (
    live_connection_key,
    live_ip_key,
    live_push_claim_key,
    live_standings_key,
    live_subscribers_key,
    live_top_digest_key,
    live_trailing_key,
)
from shared.adapters.redis_client import RedisClient, text_of
from shared.adapters.redis_scripts import REDIS_FAILURES
from shared.application.live import Subscriber
from shared.domain.boards import Board
from shared.domain.errors import StoreUnavailable
from shared.domain.timestamps import now_ms

PUSH_MEMORY_SECONDS = 2 * 86400  # a board's last pushed top and standings, after its last push


class RedisConnectionRegistry:
    def __init__(self, client: RedisClient, *, ttl_seconds: int, max_connections_per_ip: int) -> None:
        self._client = client
        self._ttl_seconds = ttl_seconds
        self._max_per_ip = max_connections_per_ip

    def open(self, connection_id: str, source_ip: str) -> bool:
        now = now_ms()
        until = now + self._ttl_seconds * 1000
        ip_key = live_ip_key(source_ip)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.zremrangebyscore(ip_key, "-inf", now)
            pipe.zadd(ip_key, {connection_id: until})
            pipe.zcard(ip_key)
            pipe.expire(ip_key, self._ttl_seconds)
            _, _, open_count, _ = pipe.execute()
            if int(open_count) > self._max_per_ip:
                self._client.zrem(ip_key, connection_id)
                return False
            self._client.hset(live_connection_key(connection_id), mapping={"ip": source_ip, "window": ""})
            self._client.expire(live_connection_key(connection_id), self._ttl_seconds)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live registry: {error}") from error
        return True

    def subscribe(self, connection_id: str, board_window: str, user_id: str | None) -> None:
        until = now_ms() + self._ttl_seconds * 1000
        conn_key = live_connection_key(connection_id)
        subs_key = live_subscribers_key(board_window)
        try:
            previous = self._client.hget(conn_key, "window")
            if previous and text_of(previous) != board_window:
                self._client.hdel(live_subscribers_key(text_of(previous)), connection_id)
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(conn_key, "window", board_window)
            pipe.expire(conn_key, self._ttl_seconds)
            pipe.hset(subs_key, connection_id, orjson.dumps({"user_id": user_id, "until": until}))
            pipe.expire(subs_key, self._ttl_seconds)
            pipe.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live registry: {error}") from error

    def close(self, connection_id: str) -> None:
        conn_key = live_connection_key(connection_id)
        try:
            known: dict[Any, Any] = self._client.hgetall(conn_key)
            fields = {text_of(name): text_of(value) for name, value in known.items()}
            pipe = self._client.pipeline(transaction=False)
            if fields.get("window"):
                pipe.hdel(live_subscribers_key(fields["window"]), connection_id)
            if fields.get("ip"):
                pipe.zrem(live_ip_key(fields["ip"]), connection_id)
            pipe.delete(conn_key)
            pipe.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live registry: {error}") from error

    def subscribers(self, board_window: str) -> list[Subscriber]:
        subs_key = live_subscribers_key(board_window)
        now = now_ms()
        try:
            entries: dict[Any, Any] = self._client.hgetall(subs_key)
            found, expired = [], []
            for raw_id, raw_value in entries.items():
                connection_id = text_of(raw_id)
                value = orjson.loads(raw_value)
                if value["until"] <= now:
                    expired.append(connection_id)
                else:
                    found.append(Subscriber(connection_id, value["user_id"]))
            if expired:
                self._client.hdel(subs_key, *expired)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live registry: {error}") from error
        return found

    def connection_ids(self) -> set[str]:
        """Every registered connection (for tests and operators: SCAN, not for request paths)."""
        prefix = live_connection_key("")
        return {text_of(key)[len(prefix) :] for key in self._client.scan_iter(match=f"{prefix}*", count=500)}


class RedisPushMemory:
    def __init__(self, client: RedisClient) -> None:
        self._client = client

    def claim_push(self, board: Board, interval_ms: int) -> bool:
        return self._set_nx(live_push_claim_key(board), interval_ms)

    def claim_trailing(self, board: Board, hold_ms: int) -> bool:
        return self._set_nx(live_trailing_key(board), hold_ms)

    def push_claim_left_ms(self, board: Board) -> int:
        try:
            left = int(self._client.pttl(live_push_claim_key(board)))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live push memory: {error}") from error
        return max(0, left)  # -2: no key, -1: no expiry (never set so)

    def release_trailing(self, board: Board) -> None:
        try:
            self._client.delete(live_trailing_key(board))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live push memory: {error}") from error

    def swap_top_digest(self, board: Board, digest: str) -> bool:
        try:
            before = self._client.set(live_top_digest_key(board), digest, ex=PUSH_MEMORY_SECONDS, get=True)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live push memory: {error}") from error
        return not isinstance(before, (bytes, str)) or text_of(before) != digest

    def changed_standings(self, board: Board, standings: dict[str, str]) -> set[str]:
        key = live_standings_key(board)
        players = list(standings)
        try:
            before = self._client.hmget(key, players)
            changed = {
                player
                for player, value in zip(players, before, strict=True)
                if value is None or text_of(value) != standings[player]
            }
            if changed:
                pipe = self._client.pipeline(transaction=False)
                pipe.hset(key, mapping={player: standings[player] for player in changed})
                pipe.expire(key, PUSH_MEMORY_SECONDS)
                pipe.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live push memory: {error}") from error
        return changed

    def remember_first_standing(self, board: Board, user_id: str, standing: str) -> None:
        key = live_standings_key(board)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hsetnx(key, user_id, standing)
            pipe.expire(key, PUSH_MEMORY_SECONDS)
            pipe.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live push memory: {error}") from error

    def _set_nx(self, key: str, milliseconds: int) -> bool:
        try:
            return bool(self._client.set(key, b"1", nx=True, px=milliseconds))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"live push memory: {error}") from error
