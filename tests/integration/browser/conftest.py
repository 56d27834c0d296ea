"""A stack with its own Redis (boards start empty) and Debian's chromium for the page tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from tests.support.browser import launch_chromium
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack


@pytest.fixture(scope="module")
def page_stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = own_servers_environ(
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap, AWS_ENDPOINT_URL=servers.aws_endpoint_url
    )
    with start_stack(environ, tmp_path_factory.mktemp("page-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def page_api(page_stack: RunningStack) -> Api:
    return Api(page_stack.api_url, page_stack.api_key)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        yield context
        context.close()


@pytest.fixture
def page(chromium: BrowserContext) -> Iterator[Page]:
    opened = chromium.new_page()
    yield opened
    opened.close()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path
