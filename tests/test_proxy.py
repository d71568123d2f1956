"""``weights="auto"`` behind a proxy: a proxy variable alone does not make auto pick a download;
the proxy is asked to open a tunnel to the download host (a local fake proxy answers here)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from camkit import zoo
from camkit.zoo.cache import TORCHVISION_HOST, host_reachable


@contextlib.contextmanager
def fake_proxy(status: str) -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection HTTP proxy on 127.0.0.1 that answers any request with ``status``."""
    server = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = server.accept()
            with connection:
                requests.append(connection.recv(4096))
                connection.sendall(f"HTTP/1.1 {status}\r\n\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], requests
    finally:
        server.close()
        thread.join(5)


@pytest.fixture
def no_proxy_variables(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_proxy_that_refuses_the_tunnel_means_unreachable(no_proxy_variables):
    with fake_proxy("403 Forbidden") as (port, requests):
        no_proxy_variables.setenv("HTTPS_PROXY", f"http://user:secret@127.0.0.1:{port}")
        assert host_reachable(TORCHVISION_HOST) is False
    assert requests[0].startswith(f"CONNECT {TORCHVISION_HOST}:443 HTTP/1.1\r\n".encode())
    assert b"Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=" in requests[0]  # base64 of "user:secret"


def test_a_proxy_that_opens_the_tunnel_means_reachable(no_proxy_variables):
    with fake_proxy("200 Connection established") as (port, _):
        no_proxy_variables.setenv("https_proxy", f"127.0.0.1:{port}")
        assert host_reachable(TORCHVISION_HOST) is True


def test_a_proxy_that_is_not_there_means_unreachable(no_proxy_variables):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    no_proxy_variables.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    assert host_reachable(TORCHVISION_HOST, timeout=2.0) is False


def test_auto_picks_the_offline_weights_behind_a_proxy_that_cannot_reach_the_host(no_proxy_variables, tmp_path):
    no_proxy_variables.setenv("TORCH_HOME", str(tmp_path / "torch"))
    no_proxy_variables.delenv("CAMKIT_WEIGHTS", raising=False)
    no_proxy_variables.setattr(zoo, "_announced", set())
    with fake_proxy("502 Bad Gateway") as (port, _):
        no_proxy_variables.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        with pytest.warns(UserWarning, match="using shapes weights .*unreachable"):
            assert zoo.resolve_weights("resnet18") == "shapes"
