"""Failures of the service's dependencies, as the layers above the adapters see them.

Adapters translate their clients' exceptions (redis-py's, kafka-python's) into these, so no
client library's types travel above them.
"""

from __future__ import annotations


class DependencyUnavailable(RuntimeError):
    """A server the service relies on did not answer in time, or refused."""


class StoreUnavailable(DependencyUnavailable):
    """The board store (Redis) could not be read or written."""


class LedgerUnavailable(DependencyUnavailable):
    """Ingest's memory of submissions (Redis) could not be read or written."""


class BrokerUnavailable(DependencyUnavailable):
    """The broker did not acknowledge the records; nothing may be reported as accepted."""


class ArchiveUnavailable(DependencyUnavailable):
    """The archive of closed boards (S3) could not be read or written."""


class AuditUnavailable(DependencyUnavailable):
    """The moderation audit trail (DynamoDB) could not be read or written."""
