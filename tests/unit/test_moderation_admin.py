"""The operator side of moderation without servers: `until` parsing, a player's status, the order of
writes (audit first), idempotent retries and the end of timed bans."""

from __future__ import annotations

import pytest

from shared.application.moderation_admin import ConflictingRetry, ModerationAdmin
from shared.domain.boards import Board, BoardSchedule, Window, parse_windows
from shared.domain.errors import BrokerUnavailable
from shared.domain.events import MAX_EPOCH_MS, InvalidInput
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.moderation_requests import (
    TIMED_BAN_ACTOR,
    ban_status,
    expiry_of,
    parse_until,
    superseded,
)
from tests.support.moderation_fakes import FixedHiddenScores, MemoryAuditTrail, RecordingPublisher

pytestmark = [pytest.mark.unit, pytest.mark.moderation]

T0 = 1_700_000_000_000  # any instant: nothing here reads the clock


def action(
    kind: ModerationKind, at_ms: int, *, request: str = "r", user: str = "cheater", until_ms: int | None = None
) -> ModerationAction:
    return ModerationAction(
        action_id=action_id_for(request, user),
        user_id=user,
        kind=kind,
        reason="test",
        actor="operator",
        received_at_ms=at_ms,
        until_ms=until_ms,
    )


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def service(clock: Clock) -> tuple[ModerationAdmin, MemoryAuditTrail, RecordingPublisher, FixedHiddenScores]:
    audit, publisher, hidden = MemoryAuditTrail(), RecordingPublisher(), FixedHiddenScores()
    admin = ModerationAdmin(audit, publisher, hidden, BoardSchedule(parse_windows("daily,monthly,alltime")), clock)
    return admin, audit, publisher, hidden


# --- until -------------------------------------------------------------------------------------


def test_until_is_read_as_epoch_ms_or_rfc3339() -> None:
    assert parse_until(None, received_at_ms=T0) is None
    assert parse_until(T0 + 1, received_at_ms=T0) == T0 + 1
    assert parse_until("2023-11-14T22:13:21Z", received_at_ms=T0) == T0 + 1_000
    assert parse_until("2023-11-15T00:13:21+02:00", received_at_ms=T0) == T0 + 1_000


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (T0, "must be in the future"),
        (T0 - 1, "must be in the future"),
        ("2023-11-14T22:13:20Z", "must be in the future"),
        ("tomorrow", "RFC 3339"),
        ("2023-11-14 22:13:21", "RFC 3339"),
        ("\uff12\uff10\uff12\uff13-11-14T22:13:21Z", "RFC 3339"),  # fullwidth digits
        (True, "epoch milliseconds"),
        (1.5e12, "epoch milliseconds"),
        ([T0 + 1], "epoch milliseconds"),
        (MAX_EPOCH_MS + 1, "between 1970-01-01 and 9999-12-31"),
        (-1, "between 1970-01-01 and 9999-12-31"),
        (10**30, "between 1970-01-01 and 9999-12-31"),
    ],
)
def test_an_until_that_is_not_a_future_instant_is_refused_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        parse_until(value, received_at_ms=T0)
    assert refused.value.field == "until"


# --- status and timed bans -----------------------------------------------------------------------


def test_the_latest_ban_or_unban_decides_and_a_reset_changes_nothing() -> None:
    ban = action(ModerationKind.BAN, T0, request="a")
    reset = action(ModerationKind.RESET, T0 + 5, request="b")
    unban = action(ModerationKind.UNBAN, T0 + 10, request="c")
    assert not ban_status([], T0).banned
    assert ban_status([ban, reset], T0 + 6).ban == ban
    assert not ban_status([unban, ban, reset], T0 + 10).banned
    assert ban_status([unban, ban, reset], T0 + 9).banned  # the unban is not there yet at T0 + 9


def test_a_timed_ban_ends_by_itself_at_until() -> None:
    ban = action(ModerationKind.BAN, T0, until_ms=T0 + 100)
    assert ban_status([ban], T0 + 99).banned
    assert not ban_status([ban], T0 + 100).banned


def test_the_end_of_a_timed_ban_is_the_same_unban_every_time() -> None:
    ban = action(ModerationKind.BAN, T0, until_ms=T0 + 100)
    unban = expiry_of(ban)
    assert unban == expiry_of(ban)
    assert unban.action_id == action_id_for("expire:" + ban.action_id, ban.user_id)
    assert (unban.kind, unban.actor, unban.received_at_ms, unban.user_id) == (
        ModerationKind.UNBAN,
        TIMED_BAN_ACTOR,
        T0 + 100,
        ban.user_id,
    )
    with pytest.raises(ValueError, match="not a timed ban"):
        expiry_of(action(ModerationKind.BAN, T0))


def test_a_ban_or_unban_before_the_end_supersedes_a_timed_ban() -> None:
    ban = action(ModerationKind.BAN, T0, request="a", until_ms=T0 + 100)
    assert not superseded(ban, [ban])
    assert not superseded(ban, [ban, expiry_of(ban)])
    assert not superseded(ban, [ban, action(ModerationKind.RESET, T0 + 50, request="r")])
    assert superseded(ban, [ban, action(ModerationKind.BAN, T0 + 50, request="b")])
    assert superseded(ban, [ban, action(ModerationKind.UNBAN, T0 + 50, request="u")])
    assert not superseded(ban, [ban, action(ModerationKind.BAN, T0 - 50, request="older")])


# --- the service ---------------------------------------------------------------------------------


def test_an_action_is_recorded_before_it_is_published() -> None:
    admin, audit, publisher, _ = service(Clock(T0))
    ban = action(ModerationKind.BAN, T0)
    publisher.failures_left = 1
    with pytest.raises(BrokerUnavailable):
        admin.act(ban)
    assert audit.history("cheater") == [ban]
    assert publisher.published == []


def test_a_retry_with_the_same_key_publishes_the_recorded_action_again() -> None:
    admin, audit, publisher, _ = service(Clock(T0))
    first = action(ModerationKind.BAN, T0)
    publisher.failures_left = 1
    with pytest.raises(BrokerUnavailable):
        admin.act(first)
    retry = first._replace(received_at_ms=T0 + 7_000)  # the same key, a later instant
    accepted = admin.act(retry)
    assert accepted.retried
    assert accepted.action == first
    assert publisher.published == [first]
    assert audit.history("cheater") == [first]


def test_a_key_reused_for_another_request_is_refused_and_nothing_is_published() -> None:
    admin, audit, publisher, _ = service(Clock(T0))
    admin.act(action(ModerationKind.BAN, T0))
    with pytest.raises(ConflictingRetry, match="another request"):
        admin.act(action(ModerationKind.UNBAN, T0 + 1))
    assert len(publisher.published) == 1
    assert [a.kind for a in audit.history("cheater")] == [ModerationKind.BAN]


def test_a_timed_ban_sets_its_timer_and_its_end_produces_the_unban_once() -> None:
    clock = Clock(T0)
    admin, audit, publisher, _ = service(clock)
    ban = action(ModerationKind.BAN, T0, until_ms=T0 + 60_000)
    admin.act(ban)
    assert audit.writes == [f"append {ban.action_id}", f"timer {ban.action_id}"]
    clock.now_ms = T0 + 59_999
    assert admin.expire_due() == []
    clock.now_ms = T0 + 60_000
    [outcome] = admin.expire_due()
    assert outcome.unban == expiry_of(ban)
    assert publisher.published == [ban, expiry_of(ban)]
    assert admin.expire_due() == []
    assert ban_status(audit.history("cheater"), clock.now_ms).banned is False


def test_an_expiry_run_that_died_before_publishing_is_finished_by_the_next() -> None:
    clock = Clock(T0)
    admin, audit, publisher, _ = service(clock)
    ban = action(ModerationKind.BAN, T0, until_ms=T0 + 1_000)
    admin.act(ban)
    clock.now_ms = T0 + 5_000
    publisher.failures_left = 1
    with pytest.raises(BrokerUnavailable):
        admin.expire_due()
    assert ban.action_id in audit.timers  # kept: the unban is recorded but not yet produced
    [outcome] = admin.expire_due()
    assert publisher.published == [ban, expiry_of(ban)]
    assert outcome.unban == expiry_of(ban)
    assert audit.timers == {}


def test_a_timed_ban_replaced_before_its_end_does_not_lift_the_new_ban() -> None:
    clock = Clock(T0)
    admin, audit, publisher, _ = service(clock)
    timed = action(ModerationKind.BAN, T0, request="timed", until_ms=T0 + 1_000)
    admin.act(timed)
    permanent = action(ModerationKind.BAN, T0 + 500, request="permanent")
    admin.act(permanent)
    clock.now_ms = T0 + 2_000
    [outcome] = admin.expire_due()
    assert outcome.unban is None
    assert publisher.published == [timed, permanent]
    assert audit.timers == {}
    assert ban_status(audit.history("cheater"), clock.now_ms).ban == permanent


def test_the_report_reads_hidden_points_on_the_players_retained_boards() -> None:
    clock = Clock(T0)
    admin, _, _, hidden = service(clock)
    today = Window.DAILY.current(T0)
    yesterday = today.previous()
    assert yesterday is not None
    hidden.points[("cheater", yesterday)] = 40
    admin.act(action(ModerationKind.BAN, T0))
    report = admin.report("cheater")
    assert report.status.banned
    assert report.hidden_points == {yesterday: 40}
    asked = set(hidden.asked)
    assert {today, yesterday, Window.MONTHLY.current(T0), Board(Window.ALLTIME, "all")} <= asked
    assert not any(board.window is Window.WEEKLY for board in asked)  # not enabled
    daily = [board for board in asked if board.window is Window.DAILY]
    assert len(daily) >= 14  # the daily boards' 14-day retention
