"""autosync: a self-hosted Dropbox replacement built on git."""

from autosync_gui.version import __version__

__all__ = ["__version__"]
