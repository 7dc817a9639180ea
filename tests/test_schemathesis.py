"""Property-based fuzzing of the API from its own OpenAPI schema: no input may produce a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from servers import Server, make_server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("fuzz"), args=("--no-worker",), TUBESUM_ALLOW_GENERIC_URLS="false")
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def api_schema(api_server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{api_server.base}/schema/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_the_api_fail_with_5xx(case: Any, api_server: Server) -> None:
    response = case.call(headers=api_server.headers)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} → {response.status_code}: {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert "code" in body and "Traceback" not in response.text
