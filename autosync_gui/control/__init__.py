"""Controlling a running instance from a terminal: the private runtime folder, the
instance lock and the owner-only control socket. Qt-free."""
