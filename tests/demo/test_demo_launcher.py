"""scripts/demo.sh as a user meets it: no stray arguments, and a DEMO_DIR is reused only under the same settings."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_rejects_arguments(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "--fresh"], capture_output=True, text=True,
                         env=dict(os.environ, DEMO_DIR=str(tmp_path / "demo")), timeout=60)
    assert res.returncode == 2 and "usage: bash scripts/demo.sh" in res.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_never_reuses_stages_made_with_other_settings(tmp_path):
    """Issue 12 item 1 for the demo: finished stages of DEMO_DIR are reused only under the same settings."""
    demo = tmp_path / "demo"

    def run(**env):  # PYTHON=false: the first stage that runs fails at once (the check comes before any stage)
        return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                              env=dict(os.environ, DEMO_DIR=str(demo), PYTHON="false", **env), timeout=60)

    assert run().returncode == 1 and (demo / "settings.env").is_file()  # recorded, then the task stage failed
    (demo / ".done" / "task").touch()
    res = run(SEED="1", N_TEST="50")
    assert res.returncode == 2 and "made with other settings (SEED N_TEST)" in res.stderr
    res = run()
    assert res.returncode == 1 and "other settings" not in res.stderr and "[demo] task: done already" in res.stdout
    (demo / "settings.env").unlink()
    res = run()
    assert res.returncode == 2 and "no settings.env" in res.stderr
