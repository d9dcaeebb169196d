"""The scene list is declared once: a scene added from outside reaches every entry point with no other edit.

The throw-away scene is a package of its own (an analyzer module and a ``discreet.scenes`` entry
point in its dist-info) put on the path of a fresh interpreter, the way a third-party scene
would be installed; the interpreter then uses the library, the HTTP API and the OpenAPI document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO

from discreet.analyzers import BUILT_IN, SCENES
from discreet.results import ScanResult

ANALYZER = '''
from pydantic import BaseModel

from discreet.analyzers.base import SceneAnalyzer
from discreet.geometry import Cover
from discreet.schema import Box


class Brightness(BaseModel):
    mean: float


class BrightnessAnalyzer(SceneAnalyzer[Brightness]):
    """Mean pixel value; covers the top-left 10 px square so the anonymizer has something to draw."""

    name = "mean-brightness"
    scene = "brightness"
    result = Brightness
    description = "the mean pixel value"

    def _load(self):
        pass

    def _predict_one(self, image):
        return Brightness(mean=float(image.mean()))

    def covers(self, found):
        return [Cover(Box(x1=0, y1=0, x2=10, y2=10))]
'''

USE = '''
import json, sys
import numpy as np
import discreet
from discreet.imaging import decode
from service_support import b64, client

image = open(sys.argv[1], "rb").read()
out = {"library": discreet.scan(image, ["faces", "brightness"]).model_dump()}
covered = decode(discreet.anonymize(image, "solid", redact=["brightness"]).data).pixels
out["covered_corner_max"] = int(covered[:10, :10].max())
with client(__import__("pathlib").Path(sys.argv[2])) as api:
    answer = api.post("/v1/scan", json={"scenes": ["brightness"], "tasks": [{"data_id": "a", "image_base64": b64(image)}]})
    out["http"] = answer.json()
    out["openapi"] = api.get("/openapi.json").json()
print(json.dumps(out))
'''


def _install_scene(folder: Path) -> None:
    (folder / "brightness_scene.py").write_text(ANALYZER)
    info = folder / "brightness_scene-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brightness-scene\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[discreet.scenes]\nbrightness = brightness_scene:BrightnessAnalyzer\n")


def test_a_scene_installed_from_outside_reaches_library_http_and_openapi(tmp_path, data_dir):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    _install_scene(plugin)
    image = data_dir / "dlib-faces" / "2008_002470.jpg"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(USE), str(image), str(tmp_path / "store")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["library"]["brightness"]["mean"] > 0
    assert out["library"]["faces"], "the built-in scenes still answer beside it"
    assert out["covered_corner_max"] == 0, "the anonymizer drew the new scene's cover"
    (item,) = out["http"]["results"]
    assert item["brightness"]["mean"] == out["library"]["brightness"]["mean"]
    schemas = out["openapi"]["components"]["schemas"]
    assert "brightness" in schemas["ScanItem"]["properties"]
    assert "Brightness" in schemas


def test_without_plugins_the_list_is_the_built_in_one():
    assert list(SCENES) == [analyzer.scene for analyzer in BUILT_IN]
    assert [name for name in ScanResult.model_fields if name not in ("width", "height", "moderation")] == list(SCENES)
