"""Stand-in for PyAV on the GPU check machine (no av wheel fits the carry beside ctranslate2): faster-whisper
imports av at import time but only uses it to decode files; the check hands it numpy arrays."""


def __getattr__(name: str) -> object:
    raise ImportError(f"PyAV is not installed on this machine (av.{name}); pass decoded numpy audio instead")
