"""The explorer as a web page: Voila serves the notebook, headless Chromium changes the method
and the class, and the picture on the page follows.  Leaves a screenshot in results/explorer.png."""

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import CHROMIUM, CHROMIUM_ARGS, PICTURE, PICTURE_SHOWN, change_and_wait, free_port, port_open, requires_chromium, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "20_explorer.ipynb"
SCREENSHOT = ROOT / "results" / "explorer.png"
SERVER_START_S = 30
PAGE_READY_MS = 75_000
pytestmark = requires_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")
pytest.importorskip("voila", reason="Voila is not installed (pip install voila)")


@contextlib.contextmanager
def voila_server(log_path: Path) -> Iterator[str]:
    """Serve the explorer notebook with Voila on a free localhost port; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}", str(NOTEBOOK)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(server, lambda: port_open(port), SERVER_START_S, log_path)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(server, 15)


def test_method_and_class_change_the_picture_in_the_browser(tmp_path):
    with voila_server(tmp_path / "voila.log") as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(url, timeout=PAGE_READY_MS)
            page.wait_for_function(PICTURE_SHOWN, timeout=PAGE_READY_MS)
            first = page.locator(PICTURE).screenshot()
            assert page.locator(".camkit-message").inner_text() == ""

            after_method = change_and_wait(page, ".camkit-method", label="LayerCAM")
            after_class = change_and_wait(page, ".camkit-class", index=2)
            assert len({first, after_method, after_class}) == 3
            assert page.locator(".camkit-message").inner_text() == ""
            assert "LayerCAM of" in page.locator(".camkit-caption").inner_text()

            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
