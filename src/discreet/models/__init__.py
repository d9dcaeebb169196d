"""The one model interface, the ONNX session factory and the registry of model files."""

from discreet.models.base import Model
from discreet.models.onnx import new_session
from discreet.models.registry import MODELS, ModelInfo

__all__ = ["MODELS", "Model", "ModelInfo", "new_session"]
