"""``tubesum db backup`` / ``db restore`` and :mod:`tubesum.jobs.backup`: SQLite always, PostgreSQL when available."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from databases import POSTGRES_URL, fresh_database
from tubesum.cli import cli
from tubesum.jobs import backup, migrate
from tubesum.jobs.db import make_engine
from tubesum.jobs.keys import SqlKeyStore
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.types import JobOptions, NewJob
from tubesum.records import Rendered

OPTIONS = JobOptions.model_validate({})


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def new_job(n: int) -> NewJob:
    return NewJob(owner="k1", source=f"https://youtu.be/{n}", source_key=f"youtube:{n}", options=OPTIONS, cache_key="c")


def populate(url: str) -> tuple[str, str]:
    """Migrate ``url`` and add a succeeded job with an artifact and an API key; return (job id, key token)."""
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        store = SqlJobStore(engine)
        job, _ = store.create(new_job(1))
        claimed = store.claim(worker="w")
        assert claimed is not None and claimed.id == job.id
        artifact = Rendered("txt", "text/plain", "x.txt", b"hello \x00 world")
        store.succeed(job.id, artifacts=[artifact], audio_seconds=12.5, title="T")
        store.create(new_job(2))
        _, token = SqlKeyStore(engine).create_key("laptop")
    finally:
        engine.dispose()
    return job.id, token


def check_populated(url: str, job_id: str, token: str) -> None:
    engine = make_engine(url)
    try:
        store = SqlJobStore(engine)
        job = store.get(job_id)
        assert job is not None and job.state == "succeeded" and job.title == "T" and job.audio_seconds == 12.5
        artifact = store.artifact(job_id, "txt")
        assert artifact is not None and artifact.data == b"hello \x00 world"
        assert store.list(owner="k1").total == 2
        assert SqlKeyStore(engine).verify_key(token) is not None
    finally:
        engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("TUBESUM_DATA_DIR", str(data))
    monkeypatch.delenv("TUBESUM_DATABASE_URL", raising=False)
    return data


def test_sqlite_backup_while_another_thread_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    store = SqlJobStore(engine)
    committed: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                job, _ = store.create(new_job(n))
                committed.append(job.id)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 50:
            time.sleep(0.01)
        before = set(committed)
        info = backup.backup(url, tmp_path / "snap.db")
        time.sleep(0.1)  # the writer goes on after the snapshot
    finally:
        stop.set()
        thread.join()
        engine.dispose()
    assert not errors
    assert info.kind == "sqlite" and info.revision == migrate.head()
    assert not (tmp_path / "snap.db-wal").exists()  # a single self-contained file

    target = f"sqlite:///{tmp_path / 'restored.db'}"
    result = backup.restore(target, tmp_path / "snap.db")
    assert result.schema == "current"
    conn = sqlite3.connect(tmp_path / "restored.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        restored = {row[0] for row in conn.execute("SELECT id FROM jobs")}
    finally:
        conn.close()
    assert before <= restored <= set(committed)  # every job committed before the backup; nothing invented


def test_cli_round_trip_jobs_artifacts_keys(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{data_dir / 'tubesum.db'}"
    job_id, token = populate(url)
    out = tmp_path / "backups" / "tubesum.db"
    made = run("db", "backup", str(out))
    assert made.exit_code == 0, made.output
    assert f"backed up revision {migrate.head()} to {out}" in made.output
    assert run("db", "backup", str(out)).exit_code == 1  # no silent overwrite
    assert run("db", "backup", str(out), "--overwrite").exit_code == 0

    assert "at revision base" in run("db", "downgrade", "base", "--yes").output  # every job and key gone
    assert run("db", "restore", str(out), stdin="n\n").exit_code == 1  # asks first
    restored = run("db", "restore", str(out), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output and "db upgrade" not in restored.output
    check_populated(url, job_id, token)
    assert json.loads(run("db", "current", "--json").stdout)["current"] == migrate.head()


def test_restore_refuses_a_newer_schema(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{data_dir / 'tubesum.db'}"
    job_id, token = populate(url)
    out = tmp_path / "new.db"
    backup.backup(url, out)
    conn = sqlite3.connect(out)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    conn.close()
    refused = run("db", "restore", str(out), "--yes")
    assert refused.exit_code == 1
    assert "ffff_from_the_future" in refused.output and "newer tubesum" in refused.output
    check_populated(url, job_id, token)  # untouched


def test_restore_of_an_older_schema_offers_upgrade(data_dir: Path, tmp_path: Path) -> None:
    old = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(old)
    migrate.downgrade(old, "base")
    backup.backup(old, tmp_path / "old-backup.db")
    result = run("db", "restore", str(tmp_path / "old-backup.db"), "--yes")
    assert result.exit_code == 0, result.output
    assert "run `tubesum db upgrade`" in result.output
    result = run("db", "restore", str(tmp_path / "old-backup.db"), "--yes", "--upgrade")
    assert f"upgraded to revision {migrate.head()}" in result.output
    assert migrate.current(f"sqlite:///{data_dir / 'tubesum.db'}") == migrate.head()


def test_restore_refuses_wrong_files_and_kinds(data_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup")
    result = run("db", "restore", str(junk), "--yes")
    assert result.exit_code == 1 and "neither a SQLite database nor a pg_dump" in result.output
    sqlite_backup = tmp_path / "s.db"
    populate(f"sqlite:///{tmp_path / 'src.db'}")
    backup.backup(f"sqlite:///{tmp_path / 'src.db'}", sqlite_backup)
    with pytest.raises(backup.BackupError, match="is a sqlite backup; the job store is postgresql"):
        backup.restore("postgresql+psycopg://u:pw@127.0.0.1:1/x", sqlite_backup)
    missing = run("db", "backup", str(tmp_path / "none.db"))  # no database yet
    assert missing.exit_code == 1 and "nothing to back up" in missing.output


@pytest.fixture
def other_process_holding(tmp_path: Path) -> Iterator[Path]:
    """A second process with the SQLite job store open, like a running server."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    populate(url)
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL');"
        " c.execute('SELECT count(*) FROM jobs').fetchall(); print('ready', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "busy.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield tmp_path / "busy.db"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def test_restore_refuses_a_database_in_use_unless_forced(other_process_holding: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{other_process_holding}"
    snap = tmp_path / "snap.db"
    backup.backup(url, snap)  # backing up a live database is fine
    assert backup.database_in_use(url) is not None
    with pytest.raises(backup.BackupError, match=r"open in another process.*--force"):
        backup.restore(url, snap)
    assert backup.restore(url, snap, force=True).schema == "current"
    assert backup.database_in_use(f"sqlite:///{tmp_path / 'snap.db'}") is None


@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (scripts/with-test-services sets it)")
def test_postgresql_round_trip(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as source, fresh_database("postgresql", tmp_path) as target:
        job_id, token = populate(source)
        info = backup.backup(source, tmp_path / "pg.dump")
        assert info.kind == "postgresql" and info.revision == migrate.head()
        assert backup.inspect(tmp_path / "pg.dump").revision == migrate.head()
        migrate.upgrade(target)  # restore --clean replaces existing tables too
        assert backup.restore(target, tmp_path / "pg.dump").schema == "current"
        check_populated(target, job_id, token)
        assert migrate.current(target) == migrate.head()


FAKE_PG = """\
import json, os, sys
from pathlib import Path
name = Path(sys.argv[0]).name
log = Path(os.environ["FAKE_PG_LOG"])
with log.open("a") as fh:
    fh.write(json.dumps({"tool": name, "argv": sys.argv, "password": os.environ.get("PGPASSWORD")}) + "\\n")
mode = os.environ.get("FAKE_PG_MODE", "ok")
if mode == "mismatch":
    sys.stderr.write("pg_dump: error: aborting because of server version mismatch (password %s)\\n"
                     "pg_dump: detail: server version: 17.2; pg_dump version: 15.8\\n" % os.environ["PGPASSWORD"])
    sys.exit(1)
if name == "pg_dump":
    out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--file="))
    Path(out).write_bytes(b"PGDMP fake archive")
elif "--file=-" in sys.argv:
    print("COPY public.alembic_version (version_num) FROM stdin;")
    print(os.environ.get("FAKE_PG_REVISION", "0001"))
    print("\\\\.")
"""


@pytest.fixture
def fake_pg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pg_dump / pg_restore stand-ins on PATH that log their argv and PGPASSWORD; return the log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pg_dump", "pg_restore"):
        tool = bin_dir / name
        tool.write_text(f"#!{sys.executable}\n{FAKE_PG}")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PG_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_PG_REVISION", migrate.head())
    return tmp_path / "calls.jsonl"


SECRET = "s3cr3t-Pa55word"
PG_URL = f"postgresql+psycopg://tubesum:{SECRET}@db.internal:5433/tubesum?sslmode=require"


def test_password_only_travels_in_pgpassword(
    fake_pg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TUBESUM_DATABASE_URL", PG_URL)
    monkeypatch.setattr(backup, "_pg_in_use", lambda url: None)
    caplog.set_level(logging.DEBUG)
    made = run("db", "backup", str(tmp_path / "pg.dump"))
    assert made.exit_code == 0, made.output
    restored = run("db", "restore", str(tmp_path / "pg.dump"), "--yes")
    assert restored.exit_code == 0, restored.output
    calls = [json.loads(line) for line in fake_pg.read_text().splitlines()]
    assert [c["tool"] for c in calls] == ["pg_dump", "pg_restore", "pg_restore", "pg_restore"]
    assert calls[0]["password"] == SECRET and calls[-1]["password"] == SECRET
    assert "--clean" in calls[-1]["argv"] and "--if-exists" in calls[-1]["argv"]
    assert "--dbname=tubesum" in calls[-1]["argv"]
    assert all(SECRET not in " ".join(c["argv"]) for c in calls)
    assert SECRET not in made.output + restored.output + caplog.text


def test_pg_dump_errors_are_explained_without_the_password(
    fake_pg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PG_MODE", "mismatch")
    with pytest.raises(backup.BackupError) as caught:
        backup.backup(PG_URL, tmp_path / "pg.dump")
    message = str(caught.value)
    assert "pg_dump 15.8 is older than the PostgreSQL server 17.2" in message and SECRET not in message
    assert not (tmp_path / "pg.dump").exists()

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(backup.BackupError, match="pg_dump not found on PATH"):
        backup.backup(PG_URL, tmp_path / "pg.dump")


def test_newer_pg_archive_is_refused(fake_pg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "pg.dump"
    archive.write_bytes(b"PGDMP fake")
    monkeypatch.setenv("FAKE_PG_REVISION", "9999_future")
    with pytest.raises(backup.BackupError, match=r"9999_future.*newer tubesum"):
        backup.restore(PG_URL, archive)
