"""GET /v1/leaderboards/monthly/...: the top of a monthly board, and one player's standing."""

from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.application.queries import Standing
from shared.domain.events import InvalidId, canonical_id
from shared.domain.periods import PERIOD_PATTERN, current_period
from shared.http.api import api_resolver, documented_responses, error_response

settings = Settings.from_env()
settings.check_request_budget(writes=False)
store = RedisBoardReader(
    create_redis_client(
        settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
    )
)

logger = Logger()
tracer = Tracer()
app = api_resolver()

Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; default: current UTC month")]
MAX_OFFSET = 100_000_000


class Entry(BaseModel):
    rank: int = Field(description="1-based; equal points rank by who reached the total first")
    user_id: str
    points: int


class TopPage(BaseModel):
    period: str
    total: int = Field(description="Players with a score in the period")
    entries: list[Entry]


class PlayerStanding(BaseModel):
    period: str
    user_id: str
    rank: int
    points: int
    total: int
    percentile: float = Field(description="Share of the board ranked at or below the player; 100.0 for the leader")
    around: list[Entry] = Field(description="The player with up to `around` neighbours on each side")


def percentile(rank: int, total: int) -> float:
    """Share of the board's players ranked at or below this one: 100.0 for the leader."""
    return round(100 * (total - rank + 1) / total, 2)


def _entries(standings: list[Standing]) -> list[dict[str, Any]]:
    return [{"rank": s.rank, "user_id": s.user_id, "points": s.points} for s in standings]


@app.get(
    "/v1/leaderboards/monthly/top",
    summary="The top of a monthly board",
    responses=documented_responses(
        HTTPStatus.OK, "A page of the board", TopPage, HTTPStatus.BAD_REQUEST, HTTPStatus.SERVICE_UNAVAILABLE
    ),
)
@tracer.capture_method
def get_top(
    period: Period = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    board = period or current_period()
    total, standings = store.top(board, offset=offset, limit=limit)
    return {"period": board, "total": total, "entries": _entries(standings)}


@app.get(
    "/v1/leaderboards/monthly/users/<user_id>",
    summary="A player's rank, points and neighbours",
    responses=documented_responses(
        HTTPStatus.OK,
        "The player's standing",
        PlayerStanding,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.SERVICE_UNAVAILABLE,
        NOT_FOUND="The player has no score in the period",
    ),
)
@tracer.capture_method
def get_player(
    user_id: Annotated[
        str,
        Path(
            min_length=1,
            description="The player's id, percent-encoded; the id rule (1..128 characters) applies once decoded",
        ),
    ],
    period: Period = None,
    around: Annotated[int, Query(ge=0, le=50)] = 0,
) -> Response[dict[str, Any]]:
    # API Gateway hands REST path parameters over still percent-encoded: the id rule, its length
    # included, applies to the decoded id.
    try:
        user_id = canonical_id(unquote(user_id, errors="strict"))
    except UnicodeDecodeError:
        return _invalid_user_id("is not UTF-8 once percent-decoded")
    except InvalidId as problem:
        return _invalid_user_id(str(problem))
    board = period or current_period()
    found = store.player(board, user_id, around)
    if found is None:
        return error_response(
            HTTPStatus.NOT_FOUND,
            "player_not_found",
            f"user {user_id!r} has no score in {board}",
            period=board,
        )
    me = found.standing
    body = {
        "period": board,
        "user_id": user_id,
        "rank": me.rank,
        "points": me.points,
        "total": found.total,
        "percentile": percentile(me.rank, found.total),
        "around": _entries(found.around),
    }
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=body)


def _invalid_user_id(problem: str) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.BAD_REQUEST, "invalid_request", f"user_id: {problem}", field="user_id")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
