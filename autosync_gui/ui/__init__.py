"""The Qt tray application."""
