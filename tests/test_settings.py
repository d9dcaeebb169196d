"""One settings object, and every environment variable name Discreet has always read still read."""

from __future__ import annotations

from pathlib import Path

from discreet.settings import ImageLimits, ServiceSettings, Settings

#: variable -> (part of Settings, field, a value to set, what the field must then hold)
VARIABLES = {
    "DISCREET_THREADS": (None, "threads", "3", 3),
    "DISCREET_FACE_PRESET": (None, "face_preset", "accurate", "accurate"),
    "DISCREET_IMAGE_MAX_BYTES": ("image", "max_bytes", "123", 123),
    "DISCREET_IMAGE_MAX_SIDE": ("image", "max_side", "456", 456),
    "DISCREET_IMAGE_MAX_PIXELS": ("image", "max_pixels", "789", 789),
    "DISCREET_VIDEO_MAX_BYTES": ("video", "max_bytes", "1000", 1000),
    "DISCREET_VIDEO_MAX_SECONDS": ("video", "max_seconds", "1.5", 1.5),
    "DISCREET_VIDEO_MAX_PIXELS": ("video", "max_pixels", "2000", 2000),
    "DISCREET_DATA_DIR": ("service", "data_dir", "/srv/discreet", Path("/srv/discreet")),
    "DISCREET_DATABASE_URL": ("service", "database_url", "postgresql+psycopg://db/d", "postgresql+psycopg://db/d"),
    "DISCREET_INPUT_DIR": ("service", "input_dir", "/srv/in", Path("/srv/in")),
    "DISCREET_VIDEO_DIR": ("service", "video_dir", "/srv/v", Path("/srv/v")),
    "DISCREET_WORKERS": ("service", "workers", "4", 4),
    "DISCREET_SCAN_CONCURRENCY": ("service", "scan_concurrency", "5", 5),
    "DISCREET_MAX_TASKS": ("service", "max_tasks", "7", 7),
    "DISCREET_MAX_REQUEST_BYTES": ("service", "max_request_bytes", "999", 999),
    "DISCREET_RESULT_TTL_SECONDS": ("service", "result_ttl_seconds", "60", 60),
    "DISCREET_SWEEP_INTERVAL_SECONDS": ("service", "sweep_interval_seconds", "2.5", 2.5),
    "DISCREET_RATE_LIMIT": ("service", "rate_limit", "5/second", "5/second"),
    "DISCREET_URL_ALLOWLIST": ("service", "url_allowlist", "a.example", "a.example"),
    "DISCREET_FETCH_MAX_BYTES": ("service", "fetch_max_bytes", "321", 321),
    "DISCREET_FETCH_TIMEOUT_SECONDS": ("service", "fetch_timeout_seconds", "3", 3.0),
    "DISCREET_BODY_TIMEOUT_SECONDS": ("service", "body_timeout_seconds", "7", 7.0),
    "DISCREET_FETCH_CONCURRENCY": ("service", "fetch_concurrency", "5", 5),
    "DISCREET_FETCH_THREADS": ("service", "fetch_threads", "9", 9),
    "DISCREET_CALLBACK_CONCURRENCY": ("service", "callback_concurrency", "6", 6),
    "DISCREET_FETCH_MAX_REDIRECTS": ("service", "fetch_max_redirects", "2", 2),
    "DISCREET_CALLBACK_TIMEOUT_SECONDS": ("service", "callback_timeout_seconds", "4", 4.0),
    "DISCREET_CALLBACK_RETRY_SECONDS": ("service", "callback_retry_seconds", "100", 100),
    "DISCREET_CALLBACK_FIRST_DELAY_SECONDS": ("service", "callback_first_delay_seconds", "0.5", 0.5),
    "DISCREET_SHUTDOWN_GRACE_SECONDS": ("service", "shutdown_grace_seconds", "1", 1.0),
    "DISCREET_PRELOAD_MODELS": ("service", "preload_models", "false", False),
    "DISCREET_MAX_IN_FLIGHT_REQUESTS": ("service", "max_in_flight_requests", "9", 9),
    "DISCREET_MAX_IN_FLIGHT_PER_KEY": ("service", "max_in_flight_per_key", "3", 3),
    "DISCREET_MAX_RECEIVING_BYTES": ("service", "max_receiving_bytes", "1000", 1000),
    "DISCREET_MAX_WAITING_REQUESTS": ("service", "max_waiting_requests", "5", 5),
    "DISCREET_CORS_ORIGINS": ("service", "cors_origins", "https://a.example", "https://a.example"),
    "DISCREET_LEASE_SECONDS": ("service", "lease_seconds", "6", 6.0),
    "DISCREET_TASK_MAX_TRIES": ("service", "task_max_tries", "2", 2),
    "DISCREET_BROKER_URL": ("service", "broker_url", "redis://r:6379/0", "redis://r:6379/0"),
    "DISCREET_WORKER_CONCURRENCY": ("service", "worker_concurrency", "3", 3),
    "DISCREET_TASK_TIME_LIMIT_SECONDS": ("service", "task_time_limit_seconds", "30", 30),
    "DISCREET_VISIBILITY_TIMEOUT_SECONDS": ("service", "visibility_timeout_seconds", "40", 40),
}


def test_every_variable_is_read_under_its_name(monkeypatch):
    for name, (_part, _field, value, _expected) in VARIABLES.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    for name, (part, field, _value, expected) in VARIABLES.items():
        holder = settings if part is None else getattr(settings, part)
        assert getattr(holder, field) == expected, name


def test_every_field_has_its_variable_listed():
    from discreet.video import VideoLimits

    listed = {(part, field) for part, field, _, _ in VARIABLES.values()}
    parts = {None: Settings, "image": ImageLimits, "video": VideoLimits, "service": ServiceSettings}
    fields = {(part, f) for part, model in parts.items() for f in model.model_fields if f not in ("image", "video", "service")}
    assert fields == listed


def test_the_parts_are_built_alone_from_the_same_variables(monkeypatch):
    monkeypatch.setenv("DISCREET_IMAGE_MAX_SIDE", "64")
    monkeypatch.setenv("DISCREET_WORKERS", "2")
    assert ImageLimits().max_side == Settings().image.max_side == 64
    assert ServiceSettings().workers == Settings().service.workers == 2
