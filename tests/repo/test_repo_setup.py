"""Repository-level checks: layout, setup_env.sh behaviour, Makefile idempotency, pyproject extras."""

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_layout():
    for p in ["src/grpo_bt_rm", "scripts", "configs/runs", "tools", "tests", "bench", "requirements.lambda.txt",
              "setup_env.sh", "setup_lambda.sh", ".env.example", "README.md", "pyproject.toml", "Makefile",
              ".ci/run"]:
        assert (ROOT / p).exists(), p


def test_readme_layout_table_matches_the_folders():
    # every sub-package has a row, and every folder a row names exists
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Layout"):text.index("## Setup")]
    rows = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    packages = {f"src/grpo_bt_rm/{p.parent.name}/" for p in (ROOT / "src/grpo_bt_rm").glob("*/__init__.py")}
    assert packages <= rows, sorted(packages - rows)
    assert all((ROOT / r).exists() for r in rows if "*" not in r), [r for r in rows if "*" not in r
                                                                    and not (ROOT / r).exists()]


def test_pyproject_extras_pin_ms_swift():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "ms-swift==4.6.0" in extras["swift"] and any(d.startswith("msgspec") for d in extras["swift"])
    assert {"swift", "teacher", "eval", "density", "dev"} <= set(extras)
    lam = (ROOT / "requirements.lambda.txt").read_text()
    assert "ms-swift==4.6.0" in lam and "msgspec==" in lam and "git+" not in lam


def _source_env(tmp_path, env_text=None, extra=""):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "setup_env.sh").write_text((ROOT / "setup_env.sh").read_text())
    if env_text is not None:
        (root / ".env").write_text(env_text)
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"]}
    cmd = f"source {root}/setup_env.sh {extra}; echo HF_HOME=$HF_HOME; echo DS=$HF_DATASETS_CACHE; echo W=$WANDB_PROJECT"
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env)


def test_setup_env_defaults(tmp_path):
    r = _source_env(tmp_path)
    base = tmp_path / "home" / ".cache" / "grpo_bt_rm"
    assert f"HF_HOME={base}/hf_home" in r.stdout and f"DS={base}/hf_home/datasets" in r.stdout
    assert "WARNING" not in r.stderr


def test_setup_env_loads_env_and_warns_on_bt(tmp_path):
    r = _source_env(tmp_path, f"GRPO_BT_RM_BASE_DIR={tmp_path}/b\nWANDB_PROJECT=p1\nexport BT_DELTA_TEMP=5\n")
    assert f"HF_HOME={tmp_path}/b/hf_home" in r.stdout and "W=p1" in r.stdout
    assert "WARNING" in r.stderr and "BT_DELTA_TEMP" in r.stderr


def test_env_example_has_no_reward_settings():
    text = (ROOT / ".env.example").read_text()
    assert not [line for line in text.splitlines() if line.strip().lstrip("# ").startswith(("BT_", "export BT_"))]


def test_make_venv_is_idempotent(tmp_path):
    """After an install the stamp is newer than pyproject.toml, so `make` plans no pip install; editing
    pyproject.toml (or a missing stamp) plans one. Checked on a copy, so the real .venv is not touched."""
    import shutil
    import time

    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")

    def plan():
        return subprocess.run(["make", "-n", "venv"], cwd=tmp_path, capture_output=True, text=True).stdout

    assert "pip install" in plan()  # first use: installs
    time.sleep(0.05)
    stamp = tmp_path / ".venv" / ".installed-bc-swift-teacher-eval-density-real-dev"
    stamp.write_text("")
    assert "pip install" not in plan()  # second call: nothing to reinstall
    time.sleep(0.05)
    os.utime(tmp_path / "pyproject.toml")
    assert "pip install" in plan()


def test_make_venv_precompiles_bytecode():
    """`make venv` installs with --compile-bytecode: the heavy imports find their .pyc instead of compiling from
    source in every process (PYTHONDONTWRITEBYTECODE is set on the CI machines). Checked on the venv running this
    test when `make` built it (its stamp is there); skipped for a venv made another way."""
    import importlib.util
    import sys

    if not list(Path(sys.prefix).glob(".installed-bc-*")):
        pytest.skip(f"{sys.prefix} was not built by `make venv`")
    import swift
    import torch
    import transformers

    for mod in (swift, transformers, torch):
        pyc = importlib.util.cache_from_source(mod.__file__)
        assert Path(pyc).is_file(), f"{mod.__name__}: no bytecode at {pyc}"
