"""Debian's chromium, headless, driven by Playwright: never a browser Playwright downloads.

A missing /usr/bin/chromium is a failure that says how to install it (`make test` does), not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Playwright, ViewportSize

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def launch_chromium(playwright: Playwright, user_data_dir: Path) -> BrowserContext:
    """A fresh profile in `user_data_dir`, in Debian's chromium."""
    if not CHROMIUM.is_file():
        raise AssertionError(f"{CHROMIUM} is missing: `make browser` (apt-get install chromium) installs it")
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=DESKTOP,
        locale="en-US",
        timezone_id="UTC",
    )


def screenshot_path(name: str, scratch: Path) -> Path:
    """docs/screenshots/<name>.png when SAVE_SCREENSHOTS=1 asks for new ones, else a file in `scratch`."""
    folder = SCREENSHOTS_DIR if os.environ.get("SAVE_SCREENSHOTS") == "1" else scratch
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def board_ids(page: Page, list_id: str = "top-list") -> list[str]:
    """The player ids shown in a ranking, top first, as the page renders them (text)."""
    ids: list[str] = page.eval_on_selector_all(f"#{list_id} .player", "cells => cells.map(cell => cell.textContent)")
    return ids
