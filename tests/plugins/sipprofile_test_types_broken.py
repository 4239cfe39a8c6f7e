"""A plug-in that fails to import: the daemon logs it and serves the other types."""

raise RuntimeError("this plug-in is broken on purpose")
