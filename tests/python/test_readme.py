"""README's Python section can be followed as printed: its example runs
against a real server, and the grade sheet of its classroom workflow comes
out as it says."""

import csv
import os
import re
import subprocess
import sys

import numpy as np

import attnoracle as ao
from attnoracle import grades
from attnoracle.learners import probe
from attnoracle.server import LocalServer
from conftest import ADMIN_TOKEN, HERE

ROOT = os.path.dirname(os.path.dirname(HERE))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
SECTION = README[README.index("## Python"):]


def test_the_python_example_runs(open_server):
    example = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)
    assert "127.0.0.1:50051" in example
    code = example.replace("127.0.0.1:50051", open_server.address)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "functional_rel_err" in done.stdout


def test_the_import_command_is_the_readme_s():
    assert 'PYTHONPATH=build/python python3 -c "import attnoracle"' in README


def test_grade_sheet_of_a_class(tmp_path):
    class_list = tmp_path / "class.csv"
    class_list.write_text("Name,Email\nada,ada@example.org\n"
                          "grace,grace@example.org\n# late\nalan,a@b\n")
    assert grades.read_class(class_list) == ["ada", "grace", "alan"]
    config = os.path.join(ROOT, "configs", "classroom.textproto")
    with LocalServer(config=config, admin_token=ADMIN_TOKEN) as server:
        with ao.connect(server.address, ADMIN_TOKEN) as admin:
            tokens = {n: admin.register_learner(n) for n in ("ada", "grace")}
        with ao.connect(server.address, tokens["ada"]) as ada:
            ch = ada.challenge("class-2-theta")
            score = ch.submit(probe.learn(ch))
            assert score.passed and score.feedback == "pass_fail"
        with ao.connect(server.address, tokens["grace"]) as grace:
            ch = grace.challenge("class-2-theta")
            d = ch.spec.d_model
            wrong = {"heads": [{"theta": np.zeros((d, d)),
                                "omega": np.eye(d)}]}
            assert not ch.submit(wrong).passed
        out = tmp_path / "grades.csv"
        env = dict(os.environ, ATTNORACLE_ADMIN_TOKEN=ADMIN_TOKEN)
        done = subprocess.run(
            [sys.executable, "-m", "attnoracle.grades", "--server",
             server.address, "--class", str(class_list), "--config", config,
             "--out", str(out)], capture_output=True, text=True, env=env,
            timeout=60)
    assert done.returncode == 0, done.stderr
    assert "3 students x 6 challenges, 1 passed" in done.stdout
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == grades.COLUMNS and len(rows) == 18
    by = {(r["student"], r["challenge"]): r for r in rows}
    ada_row = by[("ada", "class-2-theta")]
    assert ada_row["passed"] == "yes" and float(ada_row["best_error"]) < 1e-10
    assert ada_row["tokens"] == "9"
    grace_row = by[("grace", "class-2-theta")]
    assert grace_row["passed"] == "no" and float(grace_row["best_error"]) > 0
    assert by[("alan", "class-1-omega")] == {
        "student": "alan", "challenge": "class-1-omega", "passed": "no",
        "best_error": "", "tokens": ""}


def test_grades_refuses_a_bad_class_list(tmp_path):
    bad = tmp_path / "class.txt"
    bad.write_text("ada\nGrace Hopper\n")
    env = dict(os.environ, ATTNORACLE_ADMIN_TOKEN=ADMIN_TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "attnoracle.grades", "--server",
         "127.0.0.1:1", "--class", str(bad), "--out", str(tmp_path / "g")],
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert f"{bad}:2: 'Grace Hopper' is not a learner name" in done.stderr
