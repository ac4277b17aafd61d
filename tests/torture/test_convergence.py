"""The short seeded torture run: three `autosync run --headless` processes, one
bare remote, one Prosody, a few hundred random operations and a handful of faults; then the
oracle (a)-(f) of tests/torture/harness.py. Replay a failure with the printed seed:

    AUTOSYNC_TORTURE_SEED=<seed> pytest tests/torture/test_convergence.py

(bench/soak.py runs long ones with random seeds.)"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.torture.harness import TortureSettings, torture

pytestmark = pytest.mark.slow  # three autosync processes, Prosody, faults: about a minute

SEED = int(os.environ.get("AUTOSYNC_TORTURE_SEED", "20261125"))


@pytest.mark.timeout(240)
def test_random_operations_and_faults_converge_and_lose_nothing() -> None:
    if shutil.which("prosody") is None or shutil.which("unshare") is None:
        pytest.skip("needs prosody and unshare (scripts/run-tests installs them)")
    settings = TortureSettings(seed=SEED, ops=300, faults=6, duration=55.0,
                               max_binary=1_500_000, converge_timeout=60.0)
    # Not under pytest's tmp_path: kept for inspection when the run fails.
    base = Path(tempfile.mkdtemp(prefix=f"autosync-torture-{SEED}-"))
    result, diagnostics = torture(settings, base, say=lambda line: None)
    print(result.summary())
    assert result.contents_checked > 100, "the run must exercise the oracle"
    assert result.ok, (f"torture seed {SEED} failed (replay: AUTOSYNC_TORTURE_SEED={SEED}):\n"
                       + "\n".join(result.failures) + "\n" + diagnostics)
    shutil.rmtree(base, ignore_errors=True)
