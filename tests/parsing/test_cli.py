"""`python -m parsing FILE|-`: the JSON-lines contract the scorer and tools rely on."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args, stdin=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "parsing", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, env={"PYTHONPATH": str(ROOT)}, timeout=60)


def test_stdin_json_lines_with_non_finite_values():
    proc = run(["-"], stdin="noise\nstep=3 loss=nan grad_norm=inf lr=-inf\n{'loss': 1.5}\n")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines == [
        {"line": 2, "step": 3, "metrics": {"loss": "nan", "grad_norm": "inf", "learning_rate": "-inf"}},
        {"line": 3, "step": None, "metrics": {"loss": 1.5}},
    ]


def test_file_and_stats(tmp_path):
    log = tmp_path / "run.log"
    log.write_bytes(b"loss: 1.0\n\xff\xfe garbage\nloss: 0.5 lr: 0.1\n")
    proc = run([str(log), "--stats"])
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 2
    for word in ("lines read:", "records:", "failures:", "lines/s:", "loss: 2", "learning_rate: 1"):
        assert word in proc.stderr


def test_pattern_shows_what_it_extracts(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("it 10 | obj 2.50\n")
    proc = run([str(log), "--pattern", r"it (?P<step>\d+) \| obj (?P<loss>[\d.]+)"])
    assert json.loads(proc.stdout) == {"line": 1, "step": 10, "metrics": {"loss": 2.5}}


def test_bad_pattern_is_exit_2_naming_it(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("x\n")
    proc = run([str(log), "--pattern", "loss (?P<loss>[0-9.]+"])
    assert proc.returncode == 2
    assert "loss (?P<loss>[0-9.]+" in proc.stderr


def test_trainboard_toml_in_working_directory(tmp_path):
    (tmp_path / "trainboard.toml").write_text("[[parsing.patterns]]\nregex = 'obj=(?P<loss>[0-9.]+)'\n")
    (tmp_path / "run.log").write_text("obj=3.5\n")
    proc = run(["run.log"], cwd=tmp_path)
    assert json.loads(proc.stdout)["metrics"] == {"loss": 3.5}
    (tmp_path / "trainboard.toml").write_text("[[parsing.patterns]]\nregex = 'obj=(?P<loss>[0-9.]+'\n")
    assert run(["run.log"], cwd=tmp_path).returncode == 2


def test_missing_file_is_an_error(tmp_path):
    assert run([str(tmp_path / "nope.log")]).returncode == 2
