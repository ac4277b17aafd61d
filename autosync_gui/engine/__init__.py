"""Qt-free asyncio sync engine: watcher, scheduler, git integration."""
