"""`trainboard run` as a user runs it: output passed through byte for byte, exit codes, errors."""
from __future__ import annotations

import io
import os
import subprocess

from dashboard.capture import capture
from dashboard.cli import main
from dashboard.db import queries
from dashboard.db.engine import init_db
from parsing import parse_text
from tests.capture.conftest import PY, REPO, TOY, trainboard

# A job that prints what terminals see: \r redraws, ANSI colours, bytes that are not UTF-8, a
# character split across two writes, a NUL, stderr interleaved, and more than one pipe read.
WEIRD_JOB = r'''
import os, sys, time
out, err = sys.stdout.buffer, sys.stderr.buffer
for i in range(5):
    err.write(b"\r%3d%%|\xe2\x96\x88| %d/5" % (i * 20, i)); err.flush()
err.write(b"\n"); err.flush()
out.write(b"\x1b[32mstep 1:\x1b[0m loss 2.5\n"); out.flush()
out.write(b"bad bytes \xff\xfe\xc3 end\n"); out.flush()
out.write(b"split \xe2\x96"); out.flush(); time.sleep(0.01); out.write(b"\x88 char\n"); out.flush()
out.write(b"nul\x00byte\n"); out.flush()
err.write(b"\nwarning: on stderr\n"); err.flush()
out.write(b"x" * 200_000 + b"\n"); out.flush()
out.write(b"step 2: loss 2.25"); out.flush()  # no final newline
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
'''


def test_output_is_byte_identical_to_running_the_command_directly(sqlite_url, tmp_path):
    job = tmp_path / "job.py"
    job.write_text(WEIRD_JOB)
    direct = subprocess.run([PY, str(job)], capture_output=True, timeout=30)
    captured = trainboard("run", "--db", sqlite_url, "--experiment", "bytes", "--", PY, str(job))
    assert captured.returncode == direct.returncode == 0
    assert captured.stdout == direct.stdout
    assert captured.stderr == direct.stderr
    assert b"\r" in captured.stderr and b"\xff\xfe" in captured.stdout and b"\x1b[32m" in captured.stdout

    engine = init_db(sqlite_url)
    run = queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])[0]
    log = "".join(text for _, text in queries.log_chunks(engine, run["id"], limit=10_000))
    # the stored log is everything both streams printed (in the order read: two pipes keep no
    # order between them), invalid bytes and NUL as U+FFFD, the split character whole again
    printed = (direct.stdout + direct.stderr).decode("utf-8", "replace").replace("\x00", "\ufffd")
    assert sorted(log) == sorted(printed)  # every character, none added
    assert "█ char" in log and "nul\ufffdbyte" in log and len(log) > 200_000
    assert run["status"] == "completed" and run["exit_code"] == 0
    series = queries.metric_series(engine, run["id"], ["loss"])
    assert series.value.tolist() == [2.5, 2.25]  # the last line, without newline, too


def test_exit_code_is_the_commands(sqlite_url, tmp_path, capfd):
    job = tmp_path / "job.py"
    job.write_text(WEIRD_JOB)
    assert main(["run", "--db", sqlite_url, "--experiment", "codes", "--name", "three", "--", PY, str(job), "3"]) == 3
    suicide = "import os, signal; print('bye', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    assert main(["run", "--db", sqlite_url, "--experiment", "codes", "--name", "killed", "--", PY, "-c", suicide]) == 137
    assert capfd.readouterr().out.endswith("bye\n")
    engine = init_db(sqlite_url)
    runs = {r["name"]: r for r in queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])}
    assert (runs["three"]["status"], runs["three"]["exit_code"]) == ("failed", 3)
    assert (runs["killed"]["status"], runs["killed"]["exit_code"]) == ("failed", 137)
    assert runs["three"]["command"].endswith("job.py 3")


def test_toy_trainer_run_stores_its_dicts(sqlite_url):
    done = trainboard("run", "--db", sqlite_url, "--experiment", "toy", "--name", "t1", "--",
                      PY, TOY, "--steps", "60", "--log-every", "5", "--quiet-bar")
    assert done.returncode == 0
    printed = [r for r in parse_text(done.stdout.decode()) if "loss" in r.metrics]
    assert len(printed) == 12
    engine = init_db(sqlite_url)
    run_id = queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])[0]["id"]
    stored = queries.metric_series(engine, run_id, ["loss"])
    assert list(zip(stored.step, stored.value)) == [(r.step, r.metrics["loss"]) for r in printed]


def test_python_unbuffered_is_set_unless_already_set(sqlite_url):
    code = "import os; print(os.environ.get('PYTHONUNBUFFERED'))"
    for env, expected in ((None, b"1\n"), (dict(os.environ, PYTHONUNBUFFERED=""), b"\n")):
        out = io.BytesIO()
        capture([PY, "-c", code], experiment="env", db=sqlite_url, stdout=out, env=env)
        assert out.getvalue() == expected


def test_bad_pattern_is_an_error_before_anything_starts(sqlite_url, tmp_path, capfd):
    marker = tmp_path / "ran"
    code = main(["run", "--db", sqlite_url, "--experiment", "p", "--pattern", "loss=(?P<loss>[0-9.]+",
                 "--", PY, "-c", f"open({str(marker)!r}, 'w')"])
    assert code == 2
    assert "loss=(?P<loss>[0-9.]+" in capfd.readouterr().err
    assert not marker.exists()
    assert queries.list_experiments(init_db(sqlite_url)) == []


def test_user_patterns_extract_a_custom_format(sqlite_url, capfd):
    job = "for i in range(1, 4): print(f'[it {i}] objective={3.0 / i:.3f}', flush=True)"
    assert main(["run", "--db", sqlite_url, "--experiment", "p", "--pattern",
                 r"\[it (?P<step>\d+)\] objective=(?P<loss>[0-9.]+)", "--", PY, "-c", job]) == 0
    engine = init_db(sqlite_url)
    run_id = queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])[0]["id"]
    stored = queries.metric_series(engine, run_id, ["loss"])
    assert list(zip(stored.step, stored.value)) == [(1, 3.0), (2, 1.5), (3, 1.0)]


def test_unknown_command_and_missing_command(sqlite_url, capfd):
    assert main(["run", "--db", sqlite_url, "--experiment", "x", "--", "no-such-command-xyz"]) == 127
    assert "command not found: no-such-command-xyz" in capfd.readouterr().err
    assert main(["run", "--db", sqlite_url, "--experiment", "x"]) == 2
    assert "no command given" in capfd.readouterr().err


def test_a_closed_stdout_does_not_stop_the_capture(sqlite_url):
    """`trainboard run … | head -1`: the reader goes away, the job and its capture go on."""
    job = "import sys\nfor i in range(2000): print(f'step {i}: loss {1 + 1 / (i + 1):.5f}')"
    proc = subprocess.Popen(
        [PY, str(REPO / "app.py"), "run", "--db", sqlite_url, "--experiment", "pipe", "--", PY, "-c", job],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    assert proc.stdout.readline() == b"step 0: loss 2.00000\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    engine = init_db(sqlite_url)
    run_id = queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])[0]["id"]
    assert queries.point_count(engine, run_id, "loss") == 2000
