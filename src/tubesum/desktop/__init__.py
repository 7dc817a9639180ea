"""The desktop app (Qt 6 widgets via PySide6-Essentials, the ``desktop`` extra): ``tubesum-desktop``.

``window`` holds the one window, ``worker`` the QThread worker over the service layer, ``app`` the entry point
and the headless ``--self-test`` used by packaged builds. Importing this package does not import Qt.
"""

from __future__ import annotations
