"""Upload the page (web/) to its S3 bucket, each file with its content type, and write its config.json.

    python -m tools.deploy_page --bucket BUCKET --live-url wss://ID.execute-api.REGION.amazonaws.com/STAGE
    python -m tools.deploy_page --bucket BUCKET --api-url https://... --live-url wss://...

The bucket is the template's PageBucket (output PageBucketName), private and read only by the
template's CloudFront distribution, which also routes /v1/leaderboards/* to the API: so the page's
API base is its own origin unless --api-url says otherwise. --live-url is the WebSocket API's URL;
without one the page polls. Credentials and region come from boto3's usual chain; AWS_ENDPOINT_URL
points it at another S3 (moto in the tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from local_runtime.web_page import CONTENT_TYPES

REPO_ROOT = Path(__file__).resolve().parent.parent
WEB_ROOT = REPO_ROOT / "web"
CONFIG_KEY = "config.json"
# The document and its config are checked on every load; the assets may be cached a little.
ALWAYS_REVALIDATE = {"index.html", CONFIG_KEY}
ASSET_CACHE = "public, max-age=300"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class DeployError(ValueError):
    """A setting the page cannot work with; nothing was uploaded."""


@dataclass(frozen=True)
class PageObject:
    key: str
    body: bytes
    content_type: str
    cache_control: str


def checked_url(url: str, secure_scheme: str, plain_scheme: str, option: str) -> str:
    """`url` if empty or an absolute URL of `secure_scheme` (or `plain_scheme` on a loopback host)."""
    if not url:
        return ""
    parts = urlsplit(url)
    loopback = parts.hostname in _LOOPBACK
    if parts.scheme != secure_scheme and not (parts.scheme == plain_scheme and loopback):
        raise DeployError(f"{option} must be a {secure_scheme}:// URL ({plain_scheme}:// only on a loopback host)")
    if not parts.hostname or parts.query or parts.fragment or parts.username:
        raise DeployError(f"{option} must name a host and have no query, fragment or credentials")
    return url.rstrip("/")


def page_objects(web_root: Path, *, api_url: str, live_url: str) -> list[PageObject]:
    objects = []
    for file in sorted(web_root.iterdir()):
        if not file.is_file() or file.name.startswith(".") or file.name == CONFIG_KEY:
            continue
        content_type = CONTENT_TYPES.get(file.suffix.lower())
        if content_type is None:
            raise DeployError(f"{file.name}: no content type for {file.suffix!r} files")
        cache = "no-cache" if file.name in ALWAYS_REVALIDATE else ASSET_CACHE
        objects.append(PageObject(file.name, file.read_bytes(), content_type, cache))
    config = {
        "api_base": checked_url(api_url, "https", "http", "--api-url"),
        "live_url": checked_url(live_url, "wss", "ws", "--live-url"),
    }
    objects.append(PageObject(CONFIG_KEY, json.dumps(config).encode(), CONTENT_TYPES[".json"], "no-cache"))
    return objects


def upload(s3: Any, bucket: str, objects: Sequence[PageObject]) -> None:
    for page_object in objects:
        s3.put_object(
            Bucket=bucket,
            Key=page_object.key,
            Body=page_object.body,
            ContentType=page_object.content_type,
            CacheControl=page_object.cache_control,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy_page", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True, help="the stack's PageBucketName output")
    parser.add_argument("--api-url", default="", help="the API's base URL (default: the page's own origin)")
    parser.add_argument("--live-url", default="", help="the WebSocket URL (default: none, the page polls)")
    parser.add_argument("--web-root", type=Path, default=WEB_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        objects = page_objects(args.web_root, api_url=args.api_url, live_url=args.live_url)
    except DeployError as problem:
        print(f"deploy_page: {problem}", file=sys.stderr)
        return 2
    upload(boto3.client("s3"), args.bucket, objects)
    print(f"uploaded {len(objects)} objects to s3://{args.bucket}/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
