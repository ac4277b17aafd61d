"""How chatty the libraries may be in our log: slixmpp's per-connect INFO lines ("JID set
to …", "connection_lost") only with -v, and qasync never below INFO (at DEBUG it logs
every worker thread's result, which may be a password read from the keyring)."""

from __future__ import annotations

import logging


def set_library_levels(verbose: bool) -> None:
    logging.getLogger("slixmpp").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("qasync").setLevel(logging.INFO)
