"""Property-based fuzzing of the API from its own OpenAPI schema (issue 19): at least 2,000 generated requests,
a stateful phase (links between operations), and two checks on every response — no 5xx, and every status the
server answers is documented in the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from servers import Server, make_server

CHECKS = [not_a_server_error, status_code_conformance]
PER_OPERATION = 250  # x every operation: well over 2,000 requests


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(
        tmp_path_factory.mktemp("fuzz"),
        args=("--no-worker",),
        TUBESUM_ALLOW_GENERIC_URLS="false",
        TUBESUM_UPLOADS_ENABLED="true",
        TUBESUM_MAX_ACTIVE_JOBS_PER_KEY="0",
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def _validate(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path}"
    case.validate_response(response, checks=CHECKS)
    content_type = response.headers.get("content-type") or [""]  # schemathesis: name -> list of values
    if response.status_code >= 400 and content_type[0].endswith("json"):
        body = response.json()
        openai_shaped = isinstance(body.get("error"), dict)  # the OpenAI-compatible routes answer OpenAI's shape
        assert "code" in (body["error"] if openai_shaped else body) and "Traceback" not in response.text, where


def test_no_input_makes_the_api_fail_and_every_answer_is_documented(api_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.base}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7, "every route is in the schema"
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: Any) -> None:
            response = case.call(headers=api_server.headers)
            statuses.append(response.status_code)
            _validate(case, response)

        check()
    assert len(statuses) >= 2_000, f"the fuzzer sent {len(statuses)} requests"
    assert any(200 <= status < 300 for status in statuses), "authenticated requests got through"


def test_stateful_sequences_never_fail_and_stay_documented(api_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.base}/schema/openapi.json")
    calls: list[int] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": api_server.headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls.append(response.status_code)
            _validate(case, response)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )
    assert len(calls) >= 40, "the state machine ran"
