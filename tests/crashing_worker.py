"""``discreet worker`` whose scans of an image starting with ``POISON`` kill the worker process, the
way a decoder crash would (no Python exception reaches the task: the process is gone)."""

import os

from discreet.cli import app
from discreet.service.tasks import work

POISON = b"POISON"
_scan_image = work.scan_image


def _crashing_scan_image(image, scenes, attributes, *moderation):
    if image.startswith(POISON):
        os._exit(70)
    return _scan_image(image, scenes, attributes, *moderation)


work.scan_image = _crashing_scan_image

if __name__ == "__main__":
    app()
