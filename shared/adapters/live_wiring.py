"""The live functions' ports, built from the settings: the connection registry and push memory in
Redis, the API Gateway management API for pushes, and the board queries they answer with."""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.live_push import ApiGatewayPush, api_gateway_push
from shared.adapters.live_state import RedisConnectionRegistry, RedisPushMemory
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.application.queries import LeaderboardQueries
from shared.domain.timestamps import now_ms


@dataclass(frozen=True, slots=True)
class LivePorts:
    registry: RedisConnectionRegistry
    transport: ApiGatewayPush
    memory: RedisPushMemory
    queries: LeaderboardQueries


def live_ports(settings: Settings) -> LivePorts:
    redis_client = create_redis_client(
        settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
    )
    return LivePorts(
        registry=RedisConnectionRegistry(
            redis_client,
            ttl_seconds=settings.live_connection_ttl_seconds,
            max_connections_per_ip=settings.live_connections_per_ip,
        ),
        transport=api_gateway_push(settings.live_endpoint_url, settings.aws_region),
        memory=RedisPushMemory(redis_client),
        queries=LeaderboardQueries(
            RedisBoardReader(redis_client, shards=settings.board_shards), settings.windows, clock=now_ms
        ),
    )
