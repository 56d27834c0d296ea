"""GET /v1/leaderboards/...: the top of a board, one player's standing, and the periods of a window.

The monthly routes came first and answer as they always did; `ties` is new to them too. Every window
answers in their shape. /v1/leaderboards/monthly/... is always served by the monthly routes (their
period check and messages are the older ones): API Gateway and the resolver both prefer a literal
path segment to `{window}`."""

from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shared.adapters.archive_store import S3ArchiveStore, s3_read_config
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import ANSWER_MARGIN_SECONDS, Settings
from shared.application.archive_reads import ArchiveBoardReader, TieredBoardReader
from shared.application.queries import Freshness, LeaderboardQueries, Ties, entry_documents
from shared.application.queries import PlayerStanding as FoundStanding
from shared.application.queries import TopPage as FoundPage
from shared.application.queries import WindowPeriods as FoundPeriods
from shared.domain.boards import PERIODS_LISTED, Board, Window
from shared.domain.events import InvalidId, canonical_id
from shared.domain.timestamps import epoch_ms_to_rfc3339, now_ms
from shared.http.api import api_resolver, documented_responses, error_response

settings = Settings.from_env()
settings.check_request_budget(writes=False)
hot_reader = RedisBoardReader(
    create_redis_client(
        settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
    ),
    shards=settings.board_shards,
)


def _seconds_left() -> float:
    return app.lambda_context.get_remaining_time_in_millis() / 1000


archive = (
    ArchiveBoardReader(
        S3ArchiveStore(
            boto3.client("s3", region_name=settings.aws_region, config=s3_read_config()),
            settings.archive_bucket,
            seconds_left=_seconds_left,
            answer_margin_seconds=ANSWER_MARGIN_SECONDS,
        ),
        clock=now_ms,
    )
    if settings.archive_bucket
    else None
)
queries = LeaderboardQueries(
    hot_reader if archive is None else TieredBoardReader(hot_reader, archive, settings.board_schedule(), now_ms),
    settings.windows,
    clock=now_ms,
    schedule=settings.board_schedule(),
    catalog=archive,
)
# What a cache in front of the API may do with an answer, by how settled its board is.
CACHE_CONTROL = {
    Freshness.LIVE: "no-store",
    Freshness.CLOSED: "public, max-age=60",  # the updater may still be applying what came before the close
    # Settled, but a ban or unban re-exports a closed board's archive (docs/MODERATION.md): not immutable.
    Freshness.FINAL: "public, max-age=300",
}

logger = Logger()
tracer = Tracer()
app = api_resolver()

MonthlyPeriod = Annotated[
    str | None, Query(pattern=Window.MONTHLY.period_pattern, description="YYYY-MM; default: current UTC month")
]
WindowName = Annotated[
    str,
    Path(
        description="daily, weekly, monthly or alltime; only the windows a deployment enables",
        openapi_examples={window.value: {"value": window.value} for window in Window},
    ),
]
BoardPeriod = Annotated[
    str | None,
    Query(
        description="In the window's format: daily YYYY-MM-DD, weekly YYYY-Www (ISO week), monthly YYYY-MM, "
        "alltime `all`; default: the current period (UTC)"
    ),
]
TieRule = Annotated[
    Ties,
    Query(
        description="first_reached: equal points rank by who reached the total first (1, 2, 3); "
        "shared: equal points share the rank of the first of them (1, 1, 3). The order is the same."
    ),
]
Limit = Annotated[int, Query(ge=1, le=100)]
MAX_OFFSET = 100_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Around = Annotated[int, Query(ge=0, le=50)]
UserId = Annotated[
    str,
    Path(
        min_length=1,
        description="The player's id, percent-encoded; the id rule (1..128 characters) applies once decoded",
    ),
]


class Entry(BaseModel):
    rank: int = Field(description="1-based; equal points rank by who reached the total first, or share it (ties)")
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


class WindowPeriods(BaseModel):
    window: str
    current: str = Field(description="The period that takes scores now")
    next_reset: str | None = Field(description="When the current period ends (RFC 3339, UTC); null for alltime")
    periods: list[str] = Field(
        description="Periods to read, newest first: the current one, then the earlier ones that hold players "
        f"among the last {PERIODS_LISTED[Window.DAILY]} days, {PERIODS_LISTED[Window.WEEKLY]} weeks or "
        f"{PERIODS_LISTED[Window.MONTHLY]} months (the current one included), and every archived one. Any period "
        "can be read by its id."
    )


def _top(board: Board, page: FoundPage) -> Response[dict[str, Any]]:
    body = {"period": board.period, "total": page.total, "entries": entry_documents(page.entries)}
    return _answer(body, page.freshness)


def _answer(body: dict[str, Any], freshness: Freshness) -> Response[dict[str, Any]]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type="application/json",
        body=body,
        headers={"Cache-Control": CACHE_CONTROL[freshness]},
    )


def _standing(board: Board, found: FoundStanding) -> dict[str, Any]:
    me = found.standing
    return {
        "period": board.period,
        "user_id": me.user_id,
        "rank": me.rank,
        "points": me.points,
        "total": found.total,
        "percentile": found.percentile,
        "around": entry_documents(found.around),
    }


def _periods(found: FoundPeriods) -> dict[str, Any]:
    reset = found.next_reset_ms
    return {
        "window": found.window,
        "current": found.current.period,
        "next_reset": None if reset is None else epoch_ms_to_rfc3339(reset),
        "periods": found.periods,
    }


@app.get(
    "/v1/leaderboards/monthly/top",
    summary="The top of a monthly board",
    responses=documented_responses(
        HTTPStatus.OK,
        "A page of the board",
        TopPage,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.BAD_GATEWAY,
        NOT_FOUND="The deployment does not enable the monthly window (unknown_window); or a closed month nobody "
        "scored in (period_not_found)",
    ),
)
@tracer.capture_method
def get_top(
    period: MonthlyPeriod = None, limit: Limit = 10, offset: Offset = 0, ties: TieRule = Ties.FIRST_REACHED
) -> Response[dict[str, Any]]:
    board = queries.board(Window.MONTHLY, period)
    return _top(board, queries.top(board, offset=offset, limit=limit, ties=ties))


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
        HTTPStatus.BAD_GATEWAY,
        NOT_FOUND="The player has no score in the period (player_not_found); or the deployment does not "
        "enable the monthly window (unknown_window)",
    ),
)
@tracer.capture_method
def get_player(
    user_id: UserId, period: MonthlyPeriod = None, around: Around = 0, ties: TieRule = Ties.FIRST_REACHED
) -> Response[dict[str, Any]]:
    return _player_answer(queries.board(Window.MONTHLY, period), user_id, around, ties)


@app.get(
    "/v1/leaderboards/<window>/top",
    summary="The top of a board: daily, weekly, monthly or alltime",
    responses=documented_responses(
        HTTPStatus.OK,
        "A page of the board",
        TopPage,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.BAD_GATEWAY,
        NOT_FOUND="No such window, or not enabled (unknown_window); or a closed period nobody scored in "
        "(period_not_found)",
    ),
)
@tracer.capture_method
def get_board_top(
    window: WindowName,
    period: BoardPeriod = None,
    limit: Limit = 10,
    offset: Offset = 0,
    ties: TieRule = Ties.FIRST_REACHED,
) -> Response[dict[str, Any]]:
    board = queries.board(window, period)
    return _top(board, queries.top(board, offset=offset, limit=limit, ties=ties))


@app.get(
    "/v1/leaderboards/<window>/users/<user_id>",
    summary="A player's rank, points and neighbours on a board",
    responses=documented_responses(
        HTTPStatus.OK,
        "The player's standing",
        PlayerStanding,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.BAD_GATEWAY,
        NOT_FOUND="No such window, or not enabled (unknown_window); or the player has no score in the period "
        "(player_not_found); or a closed period nobody scored in (period_not_found)",
    ),
)
@tracer.capture_method
def get_board_player(
    window: WindowName,
    user_id: UserId,
    period: BoardPeriod = None,
    around: Around = 0,
    ties: TieRule = Ties.FIRST_REACHED,
) -> Response[dict[str, Any]]:
    return _player_answer(queries.board(window, period), user_id, around, ties)


@app.get(
    "/v1/leaderboards/<window>/periods",
    summary="A window's current period, its next reset, and the periods to read",
    responses=documented_responses(
        HTTPStatus.OK,
        "The window's periods",
        WindowPeriods,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.SERVICE_UNAVAILABLE,
        NOT_FOUND="No such window, or not enabled (unknown_window)",
    ),
)
@tracer.capture_method
def get_periods(window: WindowName) -> dict[str, Any]:
    return _periods(queries.periods(window))


def _player_answer(board: Board, raw_user_id: str, around: int, ties: Ties) -> Response[dict[str, Any]]:
    # API Gateway hands REST path parameters over still percent-encoded: the id rule, its length
    # included, applies to the decoded id.
    try:
        user_id = canonical_id(unquote(raw_user_id, errors="strict"))
    except UnicodeDecodeError:
        return _invalid_user_id("is not UTF-8 once percent-decoded")
    except InvalidId as problem:
        return _invalid_user_id(str(problem))
    found = queries.player(board, user_id, around=around, ties=ties)
    if found is None:
        return error_response(
            HTTPStatus.NOT_FOUND,
            "player_not_found",
            f"user {user_id!r} has no score in {board.period}",
            period=board.period,
        )
    return _answer(_standing(board, found), found.freshness)


def _invalid_user_id(problem: str) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.BAD_REQUEST, "invalid_request", f"user_id: {problem}", field="user_id")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
