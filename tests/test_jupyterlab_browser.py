"""The explorer in JupyterLab itself: `jupyter lab` serves a copy of notebooks/, headless Chromium
opens 20_explorer.ipynb, runs every cell from the Run menu, waits for the explorer's picture,
changes the method and sees the picture change.  Leaves a screenshot in results/jupyterlab.png.

The server gets its own temporary Jupyter and IPython folders (config, data, runtime, settings,
workspaces), so nothing is written to the user's home; it serves a copy, so the tracked notebook
is never saved over (the test checks that too).  The kernel inherits this process's environment
(CAMKIT_HOME included), with CAMKIT_WEIGHTS=shapes, CAMKIT_NO_TRAIN=1 and OMP_NUM_THREADS=1 as
`make test` sets them when the caller has not.
"""

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import CHROMIUM, CHROMIUM_ARGS, MAP_UPDATE_MS, PICTURE, PICTURE_SHOWN, answers, change_and_wait, free_port, requires_chromium, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "20_explorer.ipynb"
SCREENSHOT = ROOT / "results" / "jupyterlab.png"
NOTEBOOK_ENVIRONMENT = {"CAMKIT_WEIGHTS": "shapes", "CAMKIT_NO_TRAIN": "1", "OMP_NUM_THREADS": "1"}
SERVER_START_S = 60
SERVER_STOP_S = 20
LAB_READY_MS = 90_000
KERNEL_READY_MS = 90_000
PICTURE_MS = 120_000

pytestmark = requires_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")
pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install jupyterlab)")

SAVED_PICTURE_SHOWN = ("() => Array.from(document.querySelectorAll('.jp-RenderedMarkdown img'))"
                       ".some(img => img.src.includes('explorer.png') && img.complete && img.naturalWidth > 0)")
# The notebook's kernel indicator in the status bar reads "Python 3 (ipykernel) | Idle" once the kernel is up.
KERNEL_IDLE = ("() => Array.from(document.querySelectorAll('#jp-main-statusbar *'))"
               ".some(node => node.children.length === 0 && /\\|\\s*Idle\\s*$/.test(node.textContent))")


def repository_state() -> tuple[bytes, str | None, bool]:
    """What JupyterLab must not touch: the tracked notebook's bytes, its `git status` (None outside
    a git checkout) and whether notebooks/ has a checkpoint folder.  Only this notebook: other
    notebooks may be edited while the test runs."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", str(NOTEBOOK)], cwd=ROOT,
                                capture_output=True, text=True, timeout=30)
        porcelain = status.stdout if status.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        porcelain = None
    return NOTEBOOK.read_bytes(), porcelain, (NOTEBOOK.parent / ".ipynb_checkpoints").exists()


@contextlib.contextmanager
def lab_server(workdir: Path, log_path: Path) -> Iterator[str]:
    """Serve a copy of notebooks/ (and docs/, for its pictures) with JupyterLab; yields the notebook's URL."""
    root = workdir / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "docs", root / "docs")
    jupyter = {name: workdir / folder for name, folder in [
        ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython"),
    ]}
    for folder in jupyter.values():
        folder.mkdir()
    # Offline and quiet: no news (nor the question about it), no update check, no PyPI extension manager,
    # no search for language servers (it runs `npm prefix -g`, which logs into ~/.npm).
    (jupyter["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(json.dumps({
        "LanguageServerManager": {"autodetect": False},
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "extension_manager": "readonly"},
    }))
    notification = (jupyter["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
                    / "notification.jupyterlab-settings")
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**NOTEBOOK_ENVIRONMENT, **os.environ, **{name: str(folder) for name, folder in jupyter.items()}}
    env.pop("JUPYTER_PATH", None)  # only the virtual environment's kernels and extensions
    env.pop("JUPYTER_CONFIG_PATH", None)

    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
    ]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        wait_until_up(server, lambda: answers(f"http://127.0.0.1:{port}/api/status?token={token}"), SERVER_START_S, log_path)
        yield f"http://127.0.0.1:{port}/lab/tree/notebooks/{NOTEBOOK.name}?token={token}"
    finally:
        stop(server, SERVER_STOP_S)


def test_run_all_cells_in_jupyterlab_shows_the_explorer(tmp_path):
    before = repository_state()
    log_path = tmp_path / "jupyterlab.log"
    with lab_server(tmp_path, log_path) as url, sync_api.sync_playwright() as playwright:
        # Chromium's own caches (dconf) go to the temporary folder too, not to the user's home.
        browser_env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
                       "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, env=browser_env)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            try:
                page.goto(url, timeout=LAB_READY_MS)
                page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=LAB_READY_MS)
                page.wait_for_function(KERNEL_IDLE, timeout=KERNEL_READY_MS)

                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()
                page.wait_for_function(PICTURE_SHOWN, timeout=PICTURE_MS)
                first = page.locator(PICTURE).screenshot()
                assert page.locator(".camkit-message").inner_text() == ""

                assert change_and_wait(page, ".camkit-method", label="LayerCAM") != first
                assert page.locator(".camkit-message").inner_text() == ""
                assert "LayerCAM of" in page.locator(".camkit-caption").inner_text()
                assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
                # The saved picture for kernel-less readers (../docs/explorer.png) resolves in JupyterLab too.
                page.wait_for_function(SAVED_PICTURE_SHOWN, timeout=MAP_UPDATE_MS)
                page.locator(".camkit-explorer").evaluate("explorer => explorer.scrollIntoView({block: 'start'})")
            finally:
                SCREENSHOT.parent.mkdir(exist_ok=True)
                with contextlib.suppress(sync_api.Error):  # a failed screenshot must not hide the failure
                    page.screenshot(path=str(SCREENSHOT))
        except sync_api.Error as error:
            pytest.fail(f"{error}\n--- JupyterLab log (screenshot in {SCREENSHOT}):\n{log_path.read_text()[-6000:]}")
        finally:
            browser.close()
    assert repository_state() == before, f"JupyterLab touched {NOTEBOOK} in the repository"
