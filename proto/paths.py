"""Where the daemon keeps its database by default: shared by the daemon and the CLI.

``sipprofilectl export --with-secrets`` reads the daemon's own database file, so both
sides must agree on where it is; one function serves both.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_database(bus: str) -> Path:
    """$XDG_STATE_HOME/sipprofiled/profiles.db for a user's bus, /var/lib for the system's."""
    if bus == "system":
        return Path("/var/lib/sipprofiled/profiles.db")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "sipprofiled" / "profiles.db"
