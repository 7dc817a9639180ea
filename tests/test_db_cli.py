"""``tubesum db``, ``keys`` and ``jobs`` through CliRunner, against a fresh data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tubesum.cli import cli
from tubesum.cli.db import db
from tubesum.cli.jobs import jobs
from tubesum.cli.keys import keys
from tubesum.jobs import migrate
from tubesum.jobs.db import make_engine
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import JobOptions, NewJob


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register the groups on the real CLI (until it does so itself) and point the data dir into tmp_path."""
    for group in (db, keys, jobs):
        monkeypatch.setitem(cli.commands, group.name or "", group)
    data = tmp_path / "data"
    monkeypatch.setenv("TUBESUM_DATA_DIR", str(data))
    return data


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def add_job(data_dir: Path) -> str:
    engine = make_engine(f"sqlite:///{data_dir / 'tubesum.db'}")
    options = JobOptions.model_validate({})
    job, _ = SqlJobStore(engine).create(
        NewJob(owner="k1", source="https://youtu.be/x", source_key="youtube:x", options=options, cache_key="c")
    )
    engine.dispose()
    return job.id


def test_db_upgrade_current_downgrade(data_dir: Path) -> None:
    result = run("db", "current")
    assert result.exit_code == 0 and "at revision base" in result.output and "needs" in result.output
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"sqlite:///{data_dir / 'tubesum.db'}: at revision {migrate.head()}"
    assert json.loads(run("db", "current", "--json").stdout)["current"] == migrate.head()
    assert run("db", "downgrade", "base", stdin="n\n").exit_code == 1  # asks first; "no" aborts
    assert "at revision base" in run("db", "downgrade", "base", "--yes").output
    bad = run("db", "upgrade", "nope")
    assert bad.exit_code == 1 and "Migration failed" in bad.output


def test_keys_create_list_revoke(data_dir: Path) -> None:
    created = run("keys", "create", "--name", "laptop")  # a fresh data dir is migrated on the way
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("tsk_") and "will not be shown again" in created.stderr
    key_id = token.split("_")[1]

    listing = run("keys", "list")
    assert key_id in listing.output and "laptop" in listing.output and token not in listing.output
    [entry] = json.loads(run("keys", "list", "--json").stdout)
    assert entry["id"] == key_id and entry["active"] and "hash" not in json.dumps(entry)

    assert run("keys", "revoke", key_id).exit_code == 0
    [entry] = json.loads(run("keys", "list", "--json").stdout)
    assert not entry["active"] and entry["revoked_at"]
    missing = run("keys", "revoke", "0" * 16)
    assert missing.exit_code == 1 and "No API key" in missing.output

    as_json = json.loads(run("keys", "create", "--name", "ci", "--json").stdout)
    assert as_json["key"].startswith(f"tsk_{as_json['id']}_") and as_json["name"] == "ci"
    assert run("keys", "create", "--name", " ").exit_code == 2


def test_jobs_list_show_cancel(data_dir: Path) -> None:
    assert run("jobs", "list").output.strip() == "No jobs."
    job_id = add_job(data_dir)
    assert job_id in run("jobs", "list", "--state", "queued").output
    assert run("jobs", "list", "--state", "running").output.strip() == "No jobs."
    listed = json.loads(run("jobs", "list", "--json").stdout)
    assert listed["total"] == 1 and listed["items"][0]["state"] == "queued"

    shown = run("jobs", "show", job_id)
    assert "state:" in shown.output and "queued" in shown.output and "https://youtu.be/x" in shown.output
    detail = json.loads(run("jobs", "show", job_id, "--json").stdout)
    assert detail["id"] == job_id and detail["options"]["formats"] == ["txt", "srt", "vtt", "json", "md"]

    assert "cancelled" in run("jobs", "cancel", job_id).output
    assert "already finished" in run("jobs", "cancel", job_id).output
    assert run("jobs", "show", "nope").exit_code == 1
    assert run("jobs", "cancel", "nope").exit_code == 1


def test_database_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "blocked").write_text("a file where the data dir should be")
    monkeypatch.setenv("TUBESUM_DATA_DIR", str(tmp_path / "blocked" / "sub"))
    result = run("keys", "list")
    assert result.exit_code == 1 and result.output.startswith("Error: Cannot open the database:")
