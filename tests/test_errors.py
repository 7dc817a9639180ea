"""The error family: every error tubesum raises on purpose is a TubesumError with a unique, stable code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tubesum import errors
from tubesum.errors import TubesumError, error_class

SRC = Path(__file__).resolve().parents[1] / "src" / "tubesum"


def _family() -> list[type[TubesumError]]:
    found: list[type[TubesumError]] = []
    todo: list[type[TubesumError]] = [TubesumError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_below_the_api_is_defined_in_errors_py() -> None:
    """No error family on the side. The API (an edge) keeps the few HTTP-only errors it alone raises (a cross-site
    request, an OpenAI parameter it does not take), still TubesumErrors with codes of their own."""
    strays = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "errors.py" or path.is_relative_to(SRC / "api"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                strays.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert not strays, strays


@pytest.mark.parametrize(
    ("name", "code", "status", "exit_code"),
    [
        ("QuotaExceededError", "quota_exceeded", 429, 3),
        ("IdempotencyKeyReusedError", "idempotency_key_reused", 422, 1),
        ("UploadsDisabledError", "uploads_disabled", 403, 3),
        ("UploadQuotaError", "upload_quota", 413, 3),
        ("UploadTimeoutError", "upload_timeout", 408, 3),
        ("BenchError", "bench_failed", 500, 1),
        ("BackupError", "backup_failed", 500, 1),
    ],
)
def test_folded_errors_have_their_code_status_and_exit_code(name: str, code: str, status: int, exit_code: int) -> None:
    cls = getattr(errors, name)
    assert name in errors.__all__
    assert issubclass(cls, TubesumError)
    assert (cls.code, cls.http_status, cls.exit_code) == (code, status, exit_code)
    assert error_class(code) is cls
    assert f"{name} " in (errors.__doc__ or "") and f" {code} " in (errors.__doc__ or "")


def test_codes_are_unique_across_the_family() -> None:
    codes = [cls.code for cls in _family()]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)


def test_old_import_places_still_name_the_same_classes() -> None:
    from tubesum.bench.records import BenchError
    from tubesum.jobs.backup import BackupError
    from tubesum.jobs.submit import QuotaExceededError
    from tubesum.jobs.uploads import UploadsDisabledError

    assert (BenchError, BackupError, QuotaExceededError, UploadsDisabledError) == (
        errors.BenchError,
        errors.BackupError,
        errors.QuotaExceededError,
        errors.UploadsDisabledError,
    )
    assert QuotaExceededError("x", retry_after=5).to_dict()["details"] == {"retry_after": 5}


def test_describe_validation_names_fields_and_problems_never_values() -> None:
    from pydantic import BaseModel, Field, ValidationError

    from tubesum.errors import describe_validation

    class Inner(BaseModel):
        token: str = Field(max_length=3)

    class Outer(BaseModel):
        inner: Inner
        count: int

    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"inner": {"token": "s3cr3t-value"}, "count": "many"})
    text = describe_validation(caught.value)
    assert text.startswith("inner.token: String should have at most 3 characters; count: ")
    assert "s3cr3t" not in text and "many" not in text
    assert describe_validation(caught.value, first=True) == "inner.token: String should have at most 3 characters"
    with pytest.raises(ValidationError) as whole:
        Inner.model_validate("not a mapping")
    assert describe_validation(whole.value, where="settings").startswith("settings: ")
    assert describe_validation(ValueError("first line\nsecond")) == "first line"
