"""Read a file while another thread still writes it: the decoder's side of decode-while-downloading.

The writer (a download thread) reports through a shared :class:`Growth`; readers are :class:`GrowingFile`
objects, plain binary file objects that PyAV can open (``av.open(reader)``)::

    growth = Growth()
    # download thread: growth.started(part_path); growth.grew(bytes_so_far); growth.finish() or growth.fail(exc)
    with growth.reader(on_wait=report) as reader:
        container = av.open(reader)

A read past what exists blocks until more bytes arrive, the download finishes (then it returns what is left:
end of file) or fails (then it raises the download's own error). Seeks are free (a read past what exists
waits); ``SEEK_END`` uses the size the writer announced, or waits for the end when it announced none. A
container whose index sits at the end (mp4 with the ``moov`` atom last) is read once the download is
complete: streaming falls back to download-then-decode by itself. A reader keeps its file
descriptor, so the writer's final rename (``x.part`` → ``x``) does not disturb it.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["GrowingFile", "Growth"]

_WAIT_SECONDS = 0.1  # how often a blocked read wakes to look at the file and call on_wait


class Growth:
    """What the writer has done so far: the file it writes, whether it finished, and how it failed."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._path: Path | None = None
        self._done = False
        self._error: BaseException | None = None
        self.written = 0
        self.total: int | None = None

    # -- the writer's side ----------------------------------------------------------------------------------
    def started(self, path: Path) -> None:
        """The writer created ``path`` (before any reader can open it)."""
        with self._changed:
            if self._path is None:
                self._path = path
            self._changed.notify_all()

    def grew(self, written: int, total: int | None = None) -> None:
        """The writer has written ``written`` bytes (of ``total``, when known)."""
        with self._changed:
            self.written = written
            self.total = total
            self._changed.notify_all()

    def finish(self, path: Path | None = None) -> None:
        """The writer is done; ``path`` is where the file now is (after a rename), if it had not started yet."""
        with self._changed:
            if self._path is None:
                self._path = path
            self._done = True
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """The writer failed: readers raise ``error`` instead of waiting for more."""
        with self._changed:
            self._error = error
            self._done = True
            self._changed.notify_all()

    # -- the readers' side ----------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done

    @property
    def error(self) -> BaseException | None:
        return self._error

    def reader(self, *, on_wait: Callable[[], None] | None = None) -> GrowingFile:
        """A new reader at offset 0; ``on_wait`` is called while it blocks (progress, cancellation checks)."""
        return GrowingFile(self, on_wait=on_wait)

    def _wait(self, ready: Callable[[], bool], on_wait: Callable[[], None] | None) -> None:
        """Block until ``ready()`` or the writer ended; raise the writer's error when it failed."""
        while True:
            with self._changed:
                if self._error is not None:
                    raise self._error
                if ready() or self._done:
                    return
                self._changed.wait(_WAIT_SECONDS)
            if on_wait is not None:
                on_wait()

    def _open(self, on_wait: Callable[[], None] | None) -> int:
        self._wait(lambda: self._path is not None, on_wait)
        if self._path is None:  # finished without ever writing a file
            raise FileNotFoundError("the download wrote no file")
        path = self._path
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # renamed between started() and now: the writer is done with it
            self._wait(lambda: False, on_wait)
            return os.open(path.with_suffix("") if path.suffix == ".part" else path, os.O_RDONLY)


class GrowingFile(io.RawIOBase):
    """A read-only, seekable view of a file that may still grow (see the module docstring)."""

    def __init__(self, growth: Growth, *, on_wait: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._growth = growth
        self._on_wait = on_wait
        self._fd: int | None = None
        self._pos = 0
        self._raised = False
        self.name = "download"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size_at_end() + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if target < 0:
            raise ValueError("negative seek position")
        self._pos = target  # past what exists is fine: the next read waits for it
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        fd = self._descriptor()
        want = len(buffer)
        if want == 0:
            return 0
        self._wait(lambda: os.fstat(fd).st_size > self._pos)
        data = os.pread(fd, want, self._pos)  # at the end only once the writer is done: then it is the end
        view = memoryview(buffer).cast("B")
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        super().close()

    def _descriptor(self) -> int:
        if self.closed:
            raise ValueError("read from a closed file")
        if self._fd is None:
            self._fd = self._growth._open(self._on_wait)
        return self._fd

    def _size_at_end(self) -> int:
        """The file's final size: the size the writer announced (HTTP Content-Length), else wait for its end.

        FFmpeg asks for the size of its input often (``avio_size`` falls back to ``seek(-1, SEEK_END)``), so
        answering only at the end would hold every container back until the download is complete.
        """
        fd = self._descriptor()
        if not self._growth.done and self._growth.total:
            return self._growth.total
        self._wait(lambda: False)
        return os.fstat(fd).st_size

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Wait for ``ready()`` or the writer's end; its error goes up once: FFmpeg retries failed reads and
        seeks, and each retry would stash the same error again (PyAV prints every one it drops)."""
        if self._raised:
            return  # what exists now is all there is
        try:
            self._growth._wait(ready, self._on_wait)
        except BaseException:
            self._raised = True
            raise
