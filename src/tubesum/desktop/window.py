"""The desktop app's one window: source, options, progress with Cancel, transcript and summary, "Save as…".

While a run transcribes, the Transcript tab grows line by line (the worker's ``segment`` signal); when it ends,
the tab shows the final result (with speakers, when asked for).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QThread, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tubesum.config import OUTPUT_FORMATS, OutputFormat
from tubesum.desktop.worker import TranscribeWorker, start_worker
from tubesum.errors import TubesumError
from tubesum.files import ensure_writable_dir, write_atomic
from tubesum.frontends.models import model_is_local
from tubesum.frontends.session import (
    MODEL_CHOICES,
    LiveText,
    RunRequest,
    RunResult,
    advanced_fields,
    build_options,
    describe_error,
    require_url,
    transcript_text,
)
from tubesum.textfmt import timestamp

if TYPE_CHECKING:
    from tubesum.config import Settings
    from tubesum.records import Segment

__all__ = ["MainWindow", "save_result"]

MEDIA_FILTER = "Audio and video (*.mp3 *.m4a *.wav *.ogg *.opus *.flac *.webm *.mp4 *.mkv *.mov *.aac);;All files (*)"


def save_result(result: RunResult, fmt: OutputFormat, path: Path) -> Path:
    """Write ``result`` as ``fmt`` to ``path`` (rendered from the transcript when it was not asked for)."""
    from tubesum.service import render

    file = result.files.get(fmt) or render(result.transcript, [fmt])[fmt]
    return write_atomic(ensure_writable_dir(path.parent) / path.name, file.data)


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.result: RunResult | None = None
        self.worker: TranscribeWorker | None = None
        self.thread_: QThread | None = None
        self.progress_log: list[str] = []  # the progress texts of the current run, for the self-test
        self.live = LiveText()  # the current run's transcript as it grows
        self.setWindowTitle("tubesum")
        self.resize(900, 700)
        self._build()

    # -- layout --------------------------------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        source_row = QHBoxLayout()
        self.source = QLineEdit(placeholderText="Paste a YouTube or media URL, or open a file")
        self.source.setAccessibleName("Source URL or file")
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self.open_file)
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.open_button)
        layout.addLayout(source_row)

        form = QFormLayout()
        self.model = QComboBox(editable=True)
        names = MODEL_CHOICES if self.settings.model in MODEL_CHOICES else (self.settings.model, *MODEL_CHOICES)
        for name in names:
            local = model_is_local(name, settings=self.settings)
            self.model.addItem(name if local else f"{name}  (downloads on first use)", name)
        self.model.setCurrentIndex(names.index(self.settings.model))
        form.addRow("Model", self.model)
        self.language = QLineEdit(self.settings.language or "", placeholderText="detect")
        form.addRow("Language", self.language)
        formats_row = QHBoxLayout()
        self.format_boxes: dict[OutputFormat, QCheckBox] = {}
        for fmt in OUTPUT_FORMATS:
            box = QCheckBox(fmt)
            box.setChecked(fmt in self.settings.formats)
            self.format_boxes[fmt] = box
            formats_row.addWidget(box)
        form.addRow("Formats", formats_row)
        self.diarize = QCheckBox("Speakers (needs tubesum[diarize] and HF_TOKEN)")
        self.summarize = QCheckBox("Summary and key points")
        form.addRow("", self.diarize)
        form.addRow("", self.summarize)
        layout.addLayout(form)
        layout.addWidget(self._advanced_box())

        actions = QHBoxLayout()
        self.start_button = QPushButton("Transcribe")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button = QToolButton()
        self.save_button.setText("Save as…")
        self.save_button.setEnabled(False)
        self.save_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.save_button)
        for fmt in OUTPUT_FORMATS:
            menu.addAction(fmt.upper(), partial(self.save_as, fmt))
        self.save_button.setMenu(menu)
        for widget in (self.start_button, self.cancel_button, self.save_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        layout.addLayout(actions)

        self.progress = QProgressBar(minimum=0, maximum=1000, value=0)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.tabs = QTabWidget()
        self.transcript_view = QPlainTextEdit(readOnly=True)
        self.summary_view = QTextBrowser()
        self.tabs.addTab(self.transcript_view, "Transcript")
        self.tabs.addTab(self.summary_view, "Summary")
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

    def _advanced_box(self) -> QGroupBox:
        """The "Advanced" options, one widget per ``RunOptions`` field not on the main form (hidden until ticked)."""
        box = QGroupBox("Advanced: decoding, VAD, subtitles, speakers")
        box.setCheckable(True)
        box.setChecked(False)
        inner = QWidget()
        form = QFormLayout(inner)
        self.advanced: dict[str, QComboBox | QLineEdit] = {}
        for field in advanced_fields(remote=False):
            widget: QComboBox | QLineEdit
            if field.kind in ("bool", "choice"):
                widget = QComboBox()
                widget.addItem("(default)", "")
                for choice in ("on", "off") if field.kind == "bool" else field.choices:
                    widget.addItem(choice, choice)
            else:
                widget = QLineEdit(placeholderText="default")
            widget.setToolTip(field.help)
            widget.setAccessibleName(field.label)
            self.advanced[field.name] = widget
            form.addRow(field.label, widget)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(inner)
        scroll.setVisible(False)
        box.toggled.connect(scroll.setVisible)
        QVBoxLayout(box).addWidget(scroll)
        return box

    def _advanced_values(self) -> dict[str, str]:
        return {
            name: str(w.currentData() or "") if isinstance(w, QComboBox) else w.text()
            for name, w in self.advanced.items()
        }

    # -- actions -------------------------------------------------------------------------------------------
    @Slot()
    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio or video", str(Path.home()), MEDIA_FILTER)
        if path:
            self.source.setText(path)

    def request(self) -> RunRequest:
        """Build the request from the widgets; a typed URL is checked, an existing file is taken as is."""
        text = self.source.text().strip()
        path = Path(text).expanduser()
        source = str(path) if text and path.is_file() else require_url(text, settings=self.settings)
        formats = tuple(f for f, box in self.format_boxes.items() if box.isChecked()) or ("txt",)
        values = {
            **self._advanced_values(),
            "model": str(self.model.currentData() or self.model.currentText()).strip(),
            "language": self.language.text(),
            "formats": formats,
            "diarize": self.diarize.isChecked(),
            "summarize": self.summarize.isChecked(),
        }
        return RunRequest(source=source, options=build_options(values))

    @Slot()
    def start(self) -> None:
        if self.worker is not None:
            return
        try:
            request = self.request()
        except TubesumError as exc:
            self._show_error(describe_error(exc))
            return
        self.worker = TranscribeWorker(request, self.settings)
        self.worker.progress.connect(self._on_progress)
        self.worker.segment.connect(self._on_segment)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.result = None  # the view now shows this run's text: "Save as…" must not save the previous one
        self.live = LiveText()
        self.transcript_view.clear()
        self.tabs.setCurrentWidget(self.transcript_view)
        self._busy(True)
        self.progress_log.clear()
        self.status.setText("Starting…")
        self.thread_ = start_worker(self.worker)

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling…")

    def save_as(self, fmt: OutputFormat) -> None:
        if self.result is None:
            return
        suggested = self.result.files[fmt].filename if fmt in self.result.files else f"transcript.{fmt}"
        path, _ = QFileDialog.getSaveFileName(self, f"Save {fmt.upper()} as", str(Path.home() / suggested))
        if path:
            self.save_to(fmt, Path(path))

    def save_to(self, fmt: OutputFormat, path: Path) -> Path:
        """Save the current result (the dialog-free half of "Save as…")."""
        assert self.result is not None, "nothing to save yet"
        try:
            written = save_result(self.result, fmt, path)
        except TubesumError as exc:
            self._show_error(describe_error(exc))
            raise
        self.status.setText(f"Saved {written}")
        return written

    # -- worker signals (run on the GUI thread) --------------------------------------------------------------
    @Slot(str, float)
    def _on_progress(self, text: str, fraction: float) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.status.setText(text + "…")
        self.progress_log.append(text)

    @Slot(object)
    def _on_segment(self, segment: Segment) -> None:
        line = self.live.add(segment)
        if line is not None:
            self.transcript_view.appendPlainText(line)  # appends (and scrolls) without redrawing the rest

    @Slot(object)
    def _on_finished(self, result: RunResult) -> None:
        self.result = result
        self.progress.setValue(1000)
        self.status.setText(f"Done in {result.seconds:.1f} s: {result.transcript.title}")
        self._show_result(result)
        self._done()

    @Slot(str, str)
    def _on_failed(self, code: str, message: str) -> None:
        self._show_error(message)
        self._done()

    @Slot()
    def _on_cancelled(self) -> None:
        self.progress.setValue(0)
        self.status.setText("Cancelled.")
        self._done()

    def _show_error(self, message: str) -> None:
        self.status.setText("Error: " + message.replace("\n\n", " "))

    def _show_result(self, result: RunResult) -> None:
        self.transcript_view.setPlainText(transcript_text(result.transcript))
        summary = result.transcript.summary
        if summary is None:
            self.summary_view.setPlainText("No summary: tick “Summary and key points” before transcribing.")
        else:
            points = "\n".join(
                f"- {'[' + timestamp(p.start) + '] ' if p.start is not None else ''}{p.text}"
                for p in summary.key_points
            )
            speakers = ", ".join(result.transcript.speakers)
            self.summary_view.setMarkdown(
                f"{summary.abstract}\n\n**Key points**\n\n{points}"
                + (f"\n\n**Speakers:** {speakers}" if speakers else "")
            )

    def _busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(not busy)
        self.save_button.setEnabled(not busy and self.result is not None)

    def _done(self) -> None:
        if self.thread_ is not None:
            self.thread_.quit()
            self.thread_.wait()
        self.worker = None
        self.thread_ = None
        self._busy(False)

    def closeEvent(self, event: object) -> None:
        self.cancel()
        if self.thread_ is not None:
            self.thread_.quit()
            self.thread_.wait(10_000)
        super().closeEvent(event)  # type: ignore[arg-type]
