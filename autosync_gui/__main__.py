from autosync_gui.cli import main

main()
