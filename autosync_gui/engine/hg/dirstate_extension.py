"""autosync's one command inside hg: after the careful update (update.py) has moved the
work tree to a changeset file by file, tell hg's dirstate that the working copy's parent
is that changeset and that the files it wrote must be looked at again.

hg's own `debugrebuilddirstate --minimal` does not do that: it leaves the entry of a file
present in both changesets alone, so the entry keeps the old version's size, and the
next `hg status` reports the file modified without reading it (a size that differs is
proof enough for hg) — every pulled edit was committed again. Without `--minimal` every
file of the tree would be read again at the next status. This command rebuilds exactly
the entries `--minimal` would plus the paths it is given (hg then compares their content
at the next status, and remembers them as clean).

Loaded only by autosync's own command server (`--config extensions.NAME=THIS_FILE`), in
hg's Python: it imports nothing but Mercurial and must stay valid for every Python hg runs
on. It follows `debugrebuilddirstate` of Mercurial 6.x (6.3 and later)."""

from __future__ import annotations

import contextlib
from typing import Any

from mercurial import registrar, scmutil  # type: ignore[import-not-found,unused-ignore]

cmdtable: dict[bytes, Any] = {}
command = registrar.command(cmdtable)


@command(b"autosync-dirstate",  # type: ignore[untyped-decorator,misc,unused-ignore]  # hg: untyped
         [(b"r", b"rev", b"", b"the changeset the work tree now is", b"REV")],
         b"-r REV -- [PATH]...")
def autosync_dirstate(ui: Any, repo: Any, *paths: bytes, **opts: Any) -> int:
    """make REV the working copy's parent; PATHs (exact, relative to the root) and the
    entries that do not match REV are looked at again by the next status"""
    ctx = scmutil.revsingle(repo, opts.get("rev") or b".")
    with repo.wlock():
        dirstate = repo.dirstate
        manifest = ctx.manifest()
        listed = set(dirstate)
        changed = {f for f in manifest.keys() if f not in listed}
        changed |= {f for f in listed if f not in manifest and not dirstate.get_entry(f).added}
        changed |= {f for f in paths if f in manifest}  # removed ones: the line above
        changing = getattr(dirstate, "changing_parents", None)
        with changing(repo) if changing is not None else contextlib.nullcontext():
            dirstate.rebuild(ctx.node(), manifest, sorted(changed))
    return 0
