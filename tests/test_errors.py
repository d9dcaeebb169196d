"""Error codes are declared once: each code's HTTP status and class come from ``ERROR_CODES``."""

from __future__ import annotations

import pytest
from service_support import settings

from discreet.errors import ERROR_CODES, DiscreetError, ServiceError, ValidationError, error_class
from discreet.service.store import Store


def test_every_declared_code_carries_its_status_and_class():
    for declared in ERROR_CODES.values():
        raised = declared.error_class("x", code=declared.code)
        assert raised.http_status == declared.http_status, declared.code
        assert error_class(declared.code) is declared.error_class


def test_the_status_follows_the_code_not_the_class():
    assert DiscreetError("x", code="invalid_request").http_status == 400
    assert DiscreetError("x", code="url_refused").http_status == 422
    assert error_class("a_code_declared_nowhere") is ServiceError


def test_a_key_without_a_tenant_is_a_bad_request_not_a_server_error(tmp_path):
    from discreet.service.auth import create_key

    store = Store(settings(tmp_path).store_url())
    store.migrate()
    with pytest.raises(ValidationError) as refused:
        create_key(store, "   ")
    assert refused.value.code == "invalid_request" and refused.value.http_status == 400
    store.close()
