"""Discreet: privacy-first image analysis. See README.md; the policy is in ``discreet.policy``."""

from discreet.anonymize import AnonymizedImage, anonymize
from discreet.errors import DiscreetError, ImageError, PolicyError, SceneUnavailableError, ValidationError
from discreet.pipeline import Scanner, scan, scan_batch
from discreet.results import ScanResult

__version__ = "0.1.0"

__all__ = [
    "AnonymizedImage",
    "DiscreetError",
    "ImageError",
    "PolicyError",
    "ScanResult",
    "Scanner",
    "SceneUnavailableError",
    "ValidationError",
    "anonymize",
    "scan",
    "scan_batch",
]
