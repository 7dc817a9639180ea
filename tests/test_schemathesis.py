"""Property-based fuzzing of the API from its own OpenAPI schema: no input may produce a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from servers import Server, make_server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("fuzz"), args=("--no-worker",), TUBESUM_ALLOW_GENERIC_URLS="false")
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def test_no_input_makes_the_api_fail_with_5xx(api_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.base}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7, "every route is in the schema"
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: Any) -> None:
            response = case.call(headers=api_server.headers)
            statuses.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where} → {response.status_code}: {response.text}"
            content_type = response.headers.get("content-type") or [""]  # schemathesis: name -> list of values
            if response.status_code >= 400 and content_type[0].endswith("json"):
                assert "code" in response.json() and "Traceback" not in response.text, where

        check()
    assert len(statuses) >= 50, "the fuzzer actually ran"
    assert any(200 <= status < 300 for status in statuses), "authenticated requests got through"
