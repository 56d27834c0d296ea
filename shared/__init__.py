"""Code the leaderboard's Lambda handlers share: domain model, codecs, adapters for Redis, Kafka and AWS."""
