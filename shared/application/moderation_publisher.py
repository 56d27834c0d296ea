"""The port an admin route publishes moderation actions through (the Kafka adapter:
shared.adapters.kafka_producer.KafkaModerationPublisher)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.domain.moderation import ModerationAction


class ModerationPublisher(Protocol):
    def publish_moderation(self, actions: Sequence[ModerationAction]) -> None:
        """Return once the broker holds every action, each on the score topic keyed by its player's
        user id (so it is ordered with their scores); BrokerUnavailable otherwise. Publishing an
        action again is harmless: the updater applies each action id once per board."""
        ...
