"""The one model interface, the ONNX session factory and the description of a model file."""

from discreet.models.base import Model
from discreet.models.info import ModelInfo
from discreet.models.onnx import new_session

__all__ = ["Model", "ModelInfo", "new_session"]
