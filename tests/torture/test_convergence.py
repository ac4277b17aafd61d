"""The short seeded torture run: three `autosync run --headless` processes, one
bare remote, one Prosody, a few hundred random operations and a handful of faults; then the
oracle (a)-(f) of tests/torture/harness.py; once with git replicas, once (shorter: hg is
slower) with Mercurial ones. Replay a failure with the printed seed:

    AUTOSYNC_TORTURE_SEED=<seed> pytest tests/torture/test_convergence.py -k git

(bench/soak.py runs long ones with random seeds, `--backend hg` for Mercurial.)"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.torture.harness import TortureSettings, torture

pytestmark = pytest.mark.slow  # three autosync processes, Prosody, faults: about a minute

SEED = int(os.environ.get("AUTOSYNC_TORTURE_SEED", "20261125"))


# (backend, operations, faults, seconds of operations, slack). The slack is how long
# beyond commit_delay a save may wait for its commit because a pull and merge is in
# progress (the commit waits for it): git's take a fraction of a second here; hg's take
# seconds (a scratch checkout, hg's merge, the careful move), and more on a loaded machine.
# Sized for the suite's ten minutes on two cores (the two runs took 140 s of CPU at 300 and
# 150 operations); bench/soak.py runs long ones.
RUNS = [("git", 240, 6, 44.0, 1.5), ("hg", 110, 4, 30.0, 8.0)]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("backend", "ops", "faults", "duration", "slack"), RUNS,
                         ids=["git", "hg"])
def test_random_operations_and_faults_converge_and_lose_nothing(
        backend: str, ops: int, faults: int, duration: float, slack: float) -> None:
    if shutil.which("prosody") is None or shutil.which("unshare") is None:
        pytest.skip("needs prosody and unshare (scripts/run-tests installs them)")
    if shutil.which(backend) is None:
        pytest.skip(f"{backend} is not installed")
    settings = TortureSettings(seed=SEED, ops=ops, faults=faults, duration=duration,
                               max_binary=1_500_000, converge_timeout=60.0, backend=backend,
                               slack=slack)
    # Not under pytest's tmp_path: kept for inspection when the run fails.
    base = Path(tempfile.mkdtemp(prefix=f"autosync-torture-{SEED}-"))
    result, diagnostics = torture(settings, base, say=lambda line: None)
    print(result.summary())
    assert result.contents_checked > ops // 3, "the run must exercise the oracle"
    assert result.ok, (f"torture seed {SEED} ({backend}) failed (replay: "
                       f"AUTOSYNC_TORTURE_SEED={SEED}):\n"
                       + "\n".join(result.failures) + "\n" + diagnostics)
    shutil.rmtree(base, ignore_errors=True)
