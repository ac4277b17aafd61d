"""`python -m autosync_gui` runs the command line."""

import sys

from autosync_gui.entry import main

sys.exit(main())
