"""Every setting of Discreet in one object, read from ``DISCREET_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ImageLimits(BaseSettings):
    """Limits enforced before any pixel is decoded (defaults near the cloud APIs')."""

    model_config = SettingsConfigDict(env_prefix="DISCREET_IMAGE_")

    max_bytes: int = Field(20 * 1024 * 1024, description="largest encoded image, bytes")
    max_side: int = Field(30_000, description="largest width or height, pixels")
    max_pixels: int = Field(50_000_000, description="largest width x height, pixels")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISCREET_")

    threads: int = Field(1, ge=1, description="CPU threads each model may use")
    face_preset: str = Field("default", description="face detector preset: default or accurate")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
