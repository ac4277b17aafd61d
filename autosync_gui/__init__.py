"""autosync: a self-hosted Dropbox replacement built on git."""

__version__ = "0.1.0"
