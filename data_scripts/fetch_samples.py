"""Download the cat-and-dog photo of the Grad-CAM demos into camkit's sample cache (optional).

    python data_scripts/fetch_samples.py

The photo comes from pytorch-grad-cam's repository (``examples/both.png``) and is saved as
``$CAMKIT_HOME/samples/cat_and_dog.png`` (default ``~/.cache/camkit/samples``); afterwards
``camkit.zoo.samples.load("cat_and_dog")`` and ``camkit cat_and_dog`` use it.  Everything else in
camkit works without it.  Without internet the script says so in one line and exits with 1.
"""

from __future__ import annotations

import http.client
import sys
import urllib.request

import cv2
import numpy as np

from camkit.zoo.samples import CAT_AND_DOG_FILE, samples_dir

URL = "https://raw.githubusercontent.com/jacobgil/pytorch-grad-cam/master/examples/both.png"
TIMEOUT_SECONDS = 10


def download(url: str = URL, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """The bytes at ``url``, refusing anything that does not decode as an image."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    if cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) is None:
        raise ValueError(f"{url} did not return an image")
    return data


def main() -> int:
    """Fetch the photo unless it is already there; 0 on success, 1 (one line on stderr) otherwise."""
    target = samples_dir() / CAT_AND_DOG_FILE
    if target.is_file():
        print(f"Already there: {target}")
        return 0
    try:
        data = download()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)
    except (OSError, ValueError, http.client.HTTPException) as error:
        print(f"Cannot fetch the cat-and-dog photo from {URL}: {error}", file=sys.stderr)
        return 1
    print(f"Saved {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
