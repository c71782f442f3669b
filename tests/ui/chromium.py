"""How the UI tests start Debian's Chromium (package chromium) through Playwright: the
system browser via `executable_path`, never a browser that `playwright install` fetches."""

from __future__ import annotations

import os

# $WEFT_TEST_CHROMIUM, else Debian's path.
CHROMIUM = os.environ.get("WEFT_TEST_CHROMIUM", "/usr/bin/chromium")

# Headless Chromium as root on a machine without outside network: no sandbox (root), no
# GPU, and none of the background connections Chromium makes at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright, executable: str = CHROMIUM):
    """A headless Chromium browser from a `sync_playwright()` context."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
