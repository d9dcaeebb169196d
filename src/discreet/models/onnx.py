"""onnxruntime sessions built one way everywhere, so the thread setting means the same for all models."""

from __future__ import annotations

import onnxruntime as ort


def new_session(model: bytes | str, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise for users
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
