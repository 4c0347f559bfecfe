"""The wheel carries the SQL templates, so an installed `detector` works from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_installed_wheel_runs_from_another_folder(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, ROOT], check=True)
    [wheel] = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed copy comes first on the path; the checkout is not on it at all.
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import detector.rule as r; print(r.sql_root()); import detector.cli as c; c.main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "sql", "supply_chain_network_connections", "--now", "2026-11-20T12:00:00Z"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    first, rest = result.stdout.split("\n", 1)
    assert Path(first) == target / "detector" / "sql"
    assert "stage11_by_device" in rest
