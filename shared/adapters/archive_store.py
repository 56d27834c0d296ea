"""The archive in S3: objects by key in one bucket. Client errors become ArchiveUnavailable."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import ArchiveUnavailable

# An immutable object: a cache in front of the bucket may keep it.
OBJECT_CACHE_CONTROL = "public, max-age=31536000, immutable"


# A read on the query path is one attempt of a few kB: it fails fast, and is started only while the
# function has time left for it and for its answer (`seconds_left`), so a stalled S3 is a 503 in time.
S3_READ_CONNECT_SECONDS = 0.5
S3_READ_SECONDS = 1.0
S3_READ_WORST_SECONDS = S3_READ_CONNECT_SECONDS + S3_READ_SECONDS


def s3_read_config() -> Config:
    return Config(
        connect_timeout=S3_READ_CONNECT_SECONDS,
        read_timeout=S3_READ_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
    )


class S3ArchiveStore:
    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        *,
        seconds_left: Callable[[], float] | None = None,
        answer_margin_seconds: float = 0.0,
    ) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self._seconds_left = seconds_left
        self._answer_margin = answer_margin_seconds

    def _ensure_time_for_a_read(self, what: str) -> None:
        if self._seconds_left is None:
            return
        left = self._seconds_left()
        if left < S3_READ_WORST_SECONDS + self._answer_margin:
            raise ArchiveUnavailable(f"s3://{self.bucket}/{what}: {left:.1f} s left, too little to read it and answer")

    def get(self, key: str) -> bytes | None:
        self._ensure_time_for_a_read(key)
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=key)
            data: bytes = reply["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ArchiveUnavailable(f"s3://{self.bucket}/{key}: {error}") from error
        except BotoCoreError as error:
            raise ArchiveUnavailable(f"s3://{self.bucket}/{key}: {error}") from error
        return data

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, CacheControl=OBJECT_CACHE_CONTROL
            )
        except (ClientError, BotoCoreError) as error:
            raise ArchiveUnavailable(f"s3://{self.bucket}/{key}: {error}") from error

    def put_new(self, key: str, data: bytes, *, content_type: str) -> bool:
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=OBJECT_CACHE_CONTROL,
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise ArchiveUnavailable(f"s3://{self.bucket}/{key}: {error}") from error
        except BotoCoreError as error:
            raise ArchiveUnavailable(f"s3://{self.bucket}/{key}: {error}") from error
        return True

    def keys(self, prefix: str) -> Iterator[str]:
        try:
            self._ensure_time_for_a_read(f"{prefix}*")
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                self._ensure_time_for_a_read(f"{prefix}*")
                for item in page.get("Contents", []):
                    yield str(item["Key"])
        except (ClientError, BotoCoreError) as error:
            raise ArchiveUnavailable(f"s3://{self.bucket}/{prefix}*: {error}") from error

    def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            reply = self._s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
            )
        except (ClientError, BotoCoreError) as error:
            raise ArchiveUnavailable(f"s3://{self.bucket}: deleting {len(keys)} objects: {error}") from error
        if reply.get("Errors"):
            raise ArchiveUnavailable(f"s3://{self.bucket}: {len(reply['Errors'])} objects not deleted")
