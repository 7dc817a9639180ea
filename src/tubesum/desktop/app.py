"""``tubesum-desktop``: start the window, or check a packaged build headlessly with ``--self-test OUTDIR``.

The self-test drives the same window and worker as a person would (offscreen): it transcribes the bundled sample
with the tiny.en model (its text growing in the window as it is decoded), saves every format into OUTDIR through
the "Save as…" code path, prints a JSON line and exits 0 — so CI can prove that a PyInstaller build really works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tubesum.config import OUTPUT_FORMATS, Settings
from tubesum.errors import MissingExtraError

__all__ = ["main", "run_self_test"]


def _qt() -> None:
    try:
        import PySide6.QtWidgets  # noqa: F401
    except ImportError:
        raise MissingExtraError("The desktop app", "desktop", package="PySide6-Essentials") from None


def run_self_test(outdir: Path, *, settings: Settings, timeout: float = 300.0) -> int:
    """Transcribe the bundled sample through the window's worker and save every format; return the exit code."""
    from PySide6.QtWidgets import QApplication

    from tubesum.desktop.window import MainWindow
    from tubesum.service import sample_path

    app = QApplication.instance() or QApplication(["tubesum-desktop"])
    window = MainWindow(settings)
    window.source.setText(str(sample_path()))
    window.start()
    deadline = time.monotonic() + timeout
    while window.worker is not None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    if window.result is None:
        failure = {"ok": False, "status": window.status.text()}
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / "self-test.json").write_text(json.dumps(failure, indent=2), encoding="utf-8")
        print(json.dumps(failure), file=sys.stderr)
        return 1
    outdir.mkdir(parents=True, exist_ok=True)
    saved = {}
    for fmt in OUTPUT_FORMATS:
        if fmt == "pdf" and not _has_cairo():
            continue
        saved[fmt] = str(window.save_to(fmt, outdir / f"sample.{fmt}"))
    transcript = window.result.transcript
    from tubesum.doctor import js_runtime_check

    js = js_runtime_check(settings)  # the build must carry yt-dlp's JavaScript runtime for YouTube links
    report = {
        "ok": bool(transcript.text) and js.status == "ok",
        "model": transcript.model,
        "text": transcript.text,
        "js_runtime": js.detail,
        "files": saved,
        "progress": list(dict.fromkeys(window.progress_log)),  # proves the bar followed the work
        "live_lines": len(window.live.lines),  # proves the transcript grew while the job ran
    }
    (outdir / "self-test.json").write_text(json.dumps(report, indent=2), encoding="utf-8")  # GUI builds: no stdout
    print(json.dumps(report), flush=True)
    window.close()
    window.deleteLater()
    app.processEvents()
    from tubesum.service import clear_loaded_models

    clear_loaded_models()  # free the model before Qt and CTranslate2 tear down
    return 0 if report["ok"] else 1


def _has_cairo() -> bool:
    try:
        import cairo  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tubesum-desktop`` (and ``tubesum desktop``)."""
    parser = argparse.ArgumentParser(prog="tubesum-desktop", description="tubesum desktop app")
    parser.add_argument("--self-test", metavar="OUTDIR", type=Path, help="transcribe the bundled sample headlessly")
    parser.add_argument("--model", help="Whisper model to preselect (default: TUBESUM_MODEL, tiny.en for --self-test)")
    for name in ("stdout", "stderr"):  # a windowed build (Windows, macOS) starts without them
        if getattr(sys, name) is None:
            setattr(sys, name, Path(os.devnull).open("w", encoding="utf-8"))  # noqa: SIM115 - lives with the app
    args = parser.parse_args(argv)
    _qt()
    from tubesum.logs import configure_logging

    overrides: dict[str, Any] = {"model": "tiny.en", "device": "cpu"} if args.self_test is not None else {}
    if args.model:
        overrides["model"] = args.model
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        from tubesum.frontends.session import settings_problems

        print(f"tubesum-desktop: invalid configuration: {settings_problems(exc)}", file=sys.stderr)
        return 2
    configure_logging(level="WARNING", fmt="console")
    if args.self_test is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        code = run_self_test(args.self_test, settings=settings)
        from PySide6.QtWidgets import QApplication

        if (app := QApplication.instance()) is not None:
            app.shutdown()
        return code
    from PySide6.QtWidgets import QApplication

    from tubesum.desktop.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(settings)
    window.show()
    code = int(app.exec())
    from tubesum.service import clear_loaded_models

    clear_loaded_models()
    app.shutdown()  # tear Qt down now, not during interpreter exit
    return code


if __name__ == "__main__":
    sys.exit(main())
