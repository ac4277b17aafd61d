"""The Mercurial backend: the same jobs as the git backend, for an `hg` work tree.

- config: the only configuration hg ever sees (no hook, extension or pager from the
  user's, the system's or the repository's files), and the ignore file;
- runner: one `hg` command server per repository for local commands, separate `hg`
  processes (with a time limit) for the network; errors as exceptions;
- update: moving the work tree to a pulled or merged changeset, file by file, never
  through a link and never over a save;
- merge: building a merge changeset in a private scratch share, never in the work tree;
- repository: the facade the engine sees (the Repository protocol).
"""
