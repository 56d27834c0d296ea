"""GET /v1/leaderboards/monthly/...: the top of a monthly board, and one player's standing."""

from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.http_api import error_response, install_error_handlers
from shared.model import MAX_ID_LENGTH, id_problem
from shared.periods import PERIOD_PATTERN, current_period
from shared.redis_client import create_redis_client
from shared.redis_store import LeaderboardStore, Standing
from shared.settings import Settings

settings = Settings.from_env()
store = LeaderboardStore(create_redis_client(settings.redis_url))

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)
install_error_handlers(app)

Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; default: current UTC month")]
MAX_OFFSET = 100_000_000


def percentile(rank: int, total: int) -> float:
    """Share of the board's players ranked at or below this one: 100.0 for the leader."""
    return round(100 * (total - rank + 1) / total, 2)


def _entries(standings: list[Standing]) -> list[dict[str, Any]]:
    return [{"rank": s.rank, "user_id": s.user_id, "points": s.points} for s in standings]


@app.get("/v1/leaderboards/monthly/top")
@tracer.capture_method
def get_top(
    period: Period = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    board = period or current_period()
    total, standings = store.top(board, offset=offset, limit=limit)
    return {"period": board, "total": total, "entries": _entries(standings)}


@app.get("/v1/leaderboards/monthly/users/<user_id>")
@tracer.capture_method
def get_player(
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    period: Period = None,
    around: Annotated[int, Query(ge=0, le=50)] = 0,
) -> Response[dict[str, Any]]:
    user_id = unquote(user_id)  # API Gateway hands REST path parameters over still percent-encoded
    problem = id_problem(user_id)
    if problem:
        return error_response(HTTPStatus.BAD_REQUEST, "invalid_request", f"user_id: {problem}", field="user_id")
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
