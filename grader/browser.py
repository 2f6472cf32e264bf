"""A real browser for what only a browser enforces (CORS) and for tests of the built site.

Headless Chromium from the system's package (Debian's `chromium`), driven by Playwright through
`executable_path`: never `playwright install`, which downloads a browser of its own. Where no
chromium is installed, `chromium_path()` is None and callers fall back, saying so.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.async_api import Browser, async_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine's network is closed: no calls home
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed (with every page and process of it) when the block ends."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium installed (Debian: apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are the test's business, not the terminal's."""


@contextlib.contextmanager
def static_files(folder: Path) -> Iterator[int]:
    """Serve `folder` on 127.0.0.1 (a free port, yielded) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
