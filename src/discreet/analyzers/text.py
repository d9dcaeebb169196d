"""Lines of text in images, read by RapidOCR (Apache-2.0): PP-OCR detection, orientation and
recognition ONNX models, all inside the ``rapidocr`` wheel.

RapidOCR finds its bundled models by itself and downloads nothing when they are present (checked
with the network cut off); the models are named here explicitly anyway, so that a change of its
defaults fails loudly instead of reaching for the network. Building the engine takes up to a couple
of seconds on a cold start, so it is built once per process (the pipeline keeps one ``TextReader``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from discreet.analyzers.base import SceneAnalyzer
from discreet.geometry import Cover
from discreet.models import ModelInfo
from discreet.schema import Box, Point, TextLine

_BUNDLED_MODELS = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


def _bundled_model_paths() -> dict[str, str]:
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    paths = {key: models / name for key, name in _BUNDLED_MODELS.items()}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        raise ImportError(f"the rapidocr package lacks its bundled models: {', '.join(missing)}")
    return {key: str(path) for key, path in paths.items()}


#: RapidOCR's default enlarges every image until its short side is 736 px, which makes a 400 px
#: street photo a 1300 px one. Capping the long side at 960 px instead (PaddleOCR's own mobile
#: default) was 7x faster on 30 photos of the qr and scenes packs and found more complete lines
#: (36 against 26); measured with ``discreet eval text``.
_DETECTION_SIZE = {"Det.limit_type": "max", "Det.limit_side_len": 960}


class TextReader(SceneAnalyzer[list[TextLine]]):
    """The ``text`` scene: one ``TextLine`` per line found, with its box, polygon and confidence."""

    name = "rapidocr-pp-ocrv6-small"
    scene = "text"
    result = list[TextLine]
    description = "lines of text: text, confidence, box and polygon"
    models = (
        ModelInfo(
            name="rapidocr-pp-ocrv6-small",
            task="text lines (PP-OCR detection, orientation, recognition)",
            package="rapidocr",
            version="3.10.0",
            licence="Apache-2.0",
        ),
    )
    cover_scale = 1.6

    def __init__(self, threads: int = 1) -> None:
        import rapidocr  # noqa: F401  (fail at construction, not at the first image, when it is missing)

        super().__init__(threads)

    def _load(self) -> None:
        from rapidocr import RapidOCR

        self._engine = RapidOCR(
            params={
                **_bundled_model_paths(),
                **_DETECTION_SIZE,
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def covers(self, found: list[TextLine]) -> list[Cover]:
        return [Cover(line.box) for line in found]

    def read(self, pixels: np.ndarray) -> list[TextLine]:
        return self.predict([pixels])[0]

    def _predict_one(self, image: np.ndarray) -> list[TextLine]:
        output = self._engine(np.ascontiguousarray(image[:, :, ::-1]))  # RapidOCR takes BGR arrays
        if output.boxes is None:
            return []
        return [
            _to_line(polygon, text, score)
            for polygon, text, score in zip(output.boxes, output.txts, output.scores)
            if text.strip()
        ]


def _to_line(polygon: np.ndarray, text: str, score: float) -> TextLine:
    points = [Point(x=float(x), y=float(y)) for x, y in polygon]
    xs, ys = polygon[:, 0], polygon[:, 1]
    return TextLine(
        text=text,
        confidence=min(1.0, max(0.0, float(score))),
        box=Box(x1=float(xs.min()), y1=float(ys.min()), x2=float(xs.max()), y2=float(ys.max())),
        polygon=points,
    )
