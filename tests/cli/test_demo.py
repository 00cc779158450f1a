"""The README's first command: ``voltlab demo`` runs on the embedded default and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys


def test_voltlab_demo_boots_and_charges_every_charger_and_exits_zero(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "120"}
    env.pop("VOLTLAB_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "voltlab", "demo", "--chargers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every charger booted and charged" in done.stdout
    assert "TimeLimitReached" in done.stdout  # the sessions ended by themselves
