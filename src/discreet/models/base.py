"""The small interface every model follows: an identity, ``load`` once, ``predict`` on a batch.

Loading is lazy and happens once per instance; the pipeline keeps one instance per model and
process, so sessions are built once and reused (the Immich machine-learning service works the
same way).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np

Output = TypeVar("Output")


class Model(ABC, Generic[Output]):
    #: the model's identity, as listed by ``discreet models``
    name: str

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._loaded = False
        self._load_lock = threading.Lock()

    def load(self) -> None:
        """Build the model's sessions; later calls do nothing."""
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    def predict(self, batch: Sequence[np.ndarray]) -> list[Output]:
        """One output per input image (RGB ``uint8`` arrays of shape HxWx3)."""
        self.load()
        return [self._predict_one(image) for image in batch]

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _predict_one(self, image: np.ndarray) -> Output: ...
