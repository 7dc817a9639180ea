"""The one service surface: one source resolution (submission and the job runner agree) and one render (every
face hands on the same :class:`~tubesum.records.Rendered`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inprocess import client_for, migrated_store
from tubesum import outputs, service
from tubesum.config import Settings
from tubesum.errors import InvalidUrlError, SourceNotFoundError, UploadsDisabledError
from tubesum.jobs.runner import run_job
from tubesum.jobs.store import SqlJobStore
from tubesum.jobs.submit import submit_job
from tubesum.jobs.types import JobOptions, JobState, NewJob
from tubesum.jobs.uploads import UploadRecord, save_upload
from tubesum.records import MediaInfo, Rendered, Segment, Source, Transcript

pytestmark = pytest.mark.usefixtures("loopback_dns_only")


def _transcript() -> Transcript:
    return Transcript(
        source=Source(
            kind="youtube",
            original="dQw4w9WgXcQ",
            url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            video_id="dQw4w9WgXcQ",
        ),
        segments=(Segment(0.0, 2.0, "Hello there."), Segment(2.0, 4.5, "General Kenobi!")),
        language="en",
        origin="whisper",
        info=MediaInfo(title="A talk: part 1/2"),
        duration=4.5,
    )


@pytest.fixture
def up_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"data_dir": tmp_path / "data", "rate_limit_per_minute": 0, "uploads_enabled": True, "upload_max_mb": 1}
    )


@pytest.fixture
def store(up_settings: Settings) -> SqlJobStore:
    return migrated_store(up_settings)


def _upload(settings: Settings, data: bytes, *, owner: str = "alice") -> UploadRecord:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    return asyncio.run(
        save_upload(chunks(), owner=owner, filename="talk.wav", content_type="audio/wav", settings=settings)
    )


# -- render ----------------------------------------------------------------------------------------------------


def test_render_gives_one_rendered_record_per_distinct_format_in_order() -> None:
    transcript = _transcript()
    calls: list[tuple[str, float, float | None]] = []
    rendered = service.render(transcript, ["srt", "txt", "srt", "json"], progress=lambda *a: calls.append(a))
    assert list(rendered) == ["srt", "txt", "json"]
    for fmt, item in rendered.items():
        assert item == Rendered(fmt, outputs.CONTENT_TYPES[fmt], outputs.filename(transcript, fmt), item.data)
        assert item.data == outputs.render(transcript, fmt)
    assert b"00:00:02,000 --> 00:00:04,500" in rendered["srt"].data
    assert json.loads(rendered["json"].data)["segments"][1]["text"] == "General Kenobi!"
    assert calls == [("render", 0, 3), ("render", 1, 3), ("render", 2, 3), ("render", 3, 3)]


def test_write_outputs_writes_what_render_gives(tmp_path: Path) -> None:
    transcript = _transcript()
    files = service.write_outputs(transcript, formats=("txt", "vtt"), output_dir=tmp_path)
    rendered = service.render(transcript, ("txt", "vtt"))
    assert {fmt: path.name for fmt, path in files.items()} == {fmt: r.filename for fmt, r in rendered.items()}
    assert all(files[fmt].read_bytes() == rendered[fmt].data for fmt in files)


def test_result_endpoint_and_client_hand_on_the_same_record(up_settings: Settings, store: SqlJobStore) -> None:
    """A format not asked for at submit time is rendered by the endpoint: the bytes and name of a local render."""
    transcript = _transcript()
    key, token = store.create_key("alice")
    new = NewJob(
        owner=key.id, source="dQw4w9WgXcQ", source_key="k", options=JobOptions(formats=("txt",)), cache_key="c"
    )
    job, _ = store.create(new)
    assert store.claim(worker="w") is not None
    store.save_checkpoint(job.id, "transcript", transcript.to_dict())
    store.succeed(job.id, artifacts=list(service.render(transcript, ["txt"]).values()), audio_seconds=4.5, title="t")
    with client_for(up_settings, store) as c:
        response = c.get(f"/v1/jobs/{job.id}/result", params={"format": "vtt"}, headers={"X-API-Key": token})
    local = service.render(transcript, ["vtt"])["vtt"]
    assert response.status_code == 200
    assert response.content == local.data
    assert response.headers["content-type"].startswith(local.content_type)
    assert response.headers["content-disposition"].endswith(f"filename*=UTF-8''{local.filename}")


# -- resolve_source --------------------------------------------------------------------------------------------


def test_remote_callers_never_name_a_path_on_this_machine(up_settings: Settings, speech_wav: Path) -> None:
    local = service.resolve_source(str(speech_wav), settings=up_settings)
    assert local.source.kind == "file" and local.upload is None
    with pytest.raises(InvalidUrlError):
        service.resolve_source(str(speech_wav), settings=up_settings, owner="alice", remote=True)


def test_an_upload_resolves_for_its_owner_only(up_settings: Settings, speech_wav: Path) -> None:
    record = _upload(up_settings, speech_wav.read_bytes())
    mine = service.resolve_source(record.ref, settings=up_settings, owner="alice", remote=True)
    assert mine.upload == record and mine.source.path is not None and mine.source.path.read_bytes()
    with pytest.raises(SourceNotFoundError):
        service.resolve_source(record.ref, settings=up_settings, owner="bob", remote=True)


def test_submission_and_the_runner_refuse_an_upload_with_the_same_error(
    up_settings: Settings, store: SqlJobStore, speech_wav: Path
) -> None:
    """Uploads turned off after a job was queued: the job fails with the code submission would have given."""
    record = _upload(up_settings, speech_wav.read_bytes())
    queued = submit_job(record.ref, JobOptions(formats=("txt",)), owner="alice", store=store, settings=up_settings)
    off = up_settings.model_copy(update={"uploads_enabled": False})
    with pytest.raises(UploadsDisabledError) as refused:
        submit_job(record.ref, JobOptions(formats=("txt",)), owner="alice", store=store, settings=off)
    claimed = store.claim(worker="w")
    assert claimed is not None and claimed.id == queued.job.id
    run_job(claimed, store=store, settings=off)
    failed = store.get(queued.job.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.error_code == refused.value.code == "uploads_disabled"
