"""How chatty slixmpp may be in our log: its per-connect INFO lines ("JID set to …",
"connection_lost") only with -v. (Libraries that log secrets at debug level are held
at INFO by log_safety.)"""

from __future__ import annotations

import logging


def set_library_levels(verbose: bool) -> None:
    logging.getLogger("slixmpp").setLevel(logging.DEBUG if verbose else logging.WARNING)
