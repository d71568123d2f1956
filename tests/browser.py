"""What the browser tests share: headless Chromium (Debian's; Playwright cannot download its own
browser here), the explorer's picture on the page, and starting and stopping a local server."""

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
MAP_UPDATE_MS = 30_000

requires_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium); "
           "Playwright cannot download its own browser here",
)

PICTURE = "img.camkit-picture"
PICTURE_SHOWN = f"() => {{ const img = document.querySelector('{PICTURE}'); return img && img.src && img.complete && img.naturalWidth > 0; }}"
PICTURE_CHANGED = (f"old => {{ const img = document.querySelector('{PICTURE}'); "
                   "return img.src !== old && img.complete && img.naturalWidth > 0; }")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
        return answer.status == 200
    return False


def wait_until_up(server: subprocess.Popen, is_up: Callable[[], bool], seconds: float, log_path: Path) -> None:
    """Poll ``is_up()``; fail with the server's log if the server exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while not is_up():
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{' '.join(map(str, server.args[:3]))} did not start:\n{log_path.read_text()}")
        time.sleep(0.5)


def stop(server: subprocess.Popen, seconds: float) -> None:
    """SIGTERM lets a Jupyter server shut its kernels down; kill it if it has not exited in ``seconds``."""
    if server.poll() is None:
        server.terminate()
    try:
        server.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def change_and_wait(page, select: str, **option: object) -> bytes:
    """Pick an option of the explorer's dropdown ``select`` and wait for a new picture; returns its pixels (PNG)."""
    old = page.get_attribute(PICTURE, "src")
    page.locator(f"{select} select").select_option(**option)
    page.wait_for_function(PICTURE_CHANGED, arg=old, timeout=MAP_UPDATE_MS)
    return page.locator(PICTURE).screenshot()
