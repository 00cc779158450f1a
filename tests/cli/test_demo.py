"""The README's first command: ``voltlab demo`` runs on the embedded default and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.timeout(90)
def test_voltlab_demo_plays_every_authorization_path_and_exits_zero(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "160"}
    env.pop("VOLTLAB_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "voltlab", "demo"],
        capture_output=True,
        text=True,
        timeout=80,
        env=env,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "every authorization path worked" in done.stdout
    for path in ("cache", "realtime", "fallback", "command"):
        assert path in done.stdout, f"no {path} authorization shown"
    assert "Traceback" not in output
