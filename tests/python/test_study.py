"""python3 -m attnoracle.study: a small study end to end, its CSV and its
plot opened and checked, and the area under the curve."""

import csv
import os
import subprocess
import sys

import pytest

from attnoracle import study

BUDGETS = (9, 18, 36)
SEEDS = 2


def test_study_writes_csv_png_svg_and_prints_the_aulc(tmp_path):
    out = tmp_path / "study"
    done = subprocess.run(
        [sys.executable, "-m", "attnoracle.study", "--challenge", "tiny-d4",
         "--algo", "probe,py-regress", "--budgets",
         ",".join(map(str, BUDGETS)), "--seeds", str(SEEDS), "--out",
         str(out), "--time-limit", "5"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "12/12 runs" in done.stderr  # the progress bar

    with open(out / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == study.COLUMNS
    assert len(rows) == 2 * len(BUDGETS) * SEEDS
    for row in rows:
        assert row["challenge"] == "tiny-d4"
        # Each run on a fresh budget: it spends at most its own budget.
        assert 0 < int(row["tokens"]) <= int(row["budget"])
    probe_rows = [r for r in rows if r["algo"] == "probe"]
    # The probe's design is 9 tokens on d=4 and exact in float64.
    assert all(int(r["tokens"]) == 9 for r in probe_rows)
    assert all(float(r["functional_rel_err"]) < 1e-20 for r in probe_rows)

    import matplotlib.image
    image = matplotlib.image.imread(out / "curve.png")
    height, width = image.shape[:2]
    assert width >= 600 and height >= 400
    # A drawn plot, not a blank canvas: many distinct colours.
    colours = {tuple(p) for p in image.reshape(-1, image.shape[2])[::7]}
    assert len(colours) > 20
    svg = (out / "curve.svg").read_text()
    assert "<svg" in svg and "counting bound" in svg

    lines = done.stdout.splitlines()
    assert lines[0].startswith("learner") and "AULC" in lines[0]
    aulcs = {line.split()[0]: float(line.split()[1]) for line in lines[1:3]}
    assert set(aulcs) == {"probe", "py-regress"}
    assert all(0 < a <= 1 for a in aulcs.values())
    # About 41 bits of 53 from 9 tokens on: 0.64 * 0.77 / 2 + 0.36 * 0.77.
    assert aulcs["probe"] > 0.4


def test_aulc_is_one_for_a_perfect_fit_and_grows_with_precision():
    import math
    x1 = 1 / math.log2(65)
    assert study.aulc([1, 64], [60.0, 53.0], 64) == pytest.approx(1 - x1 / 2)
    assert study.aulc([8, 64], [0.0, 0.0], 64) == 0.0
    low = study.aulc([8, 64], [10.0, 20.0], 64)
    high = study.aulc([8, 64], [10.0, 40.0], 64)
    assert 0 < low < high < 1
    # Straight lines on the log2(1 + budget) axis from (0, 0).
    x8 = math.log2(9) / math.log2(65)
    want = x8 * (10 / 53) / 2 + (1 - x8) * (10 + 20) / 53 / 2
    assert low == pytest.approx(want)


def test_bad_arguments_are_refused_with_the_flag_named():
    for args, flag in ((["--algo", "nope"], "--algo"),
                       (["--budgets", "1,x"], "--budgets")):
        full = ["--challenge", "tiny-d4", "--algo", "probe", "--budgets",
                "9", "--out", os.devnull] + args
        done = subprocess.run([sys.executable, "-m", "attnoracle.study",
                               *full], capture_output=True, text=True)
        assert done.returncode == 2 and flag in done.stderr


def test_study_against_a_remote_server_registers_a_learner_per_run(tmp_path):
    from attnoracle.server import LocalServer
    token = "study-admin-token-0123456789"
    with LocalServer(admin_token=token) as server:
        env = dict(os.environ, ATTNORACLE_ADMIN_TOKEN=token)
        done = subprocess.run(
            [sys.executable, "-m", "attnoracle.study", "--challenge",
             "tiny-d4", "--algo", "probe,py-probe", "--budgets", "9",
             "--seeds", "2", "--out", str(tmp_path), "--server",
             server.address, "--quiet"],
            capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        import attnoracle as ao
        with ao.connect(server.address, token) as admin:
            board = admin.challenge("tiny-d4").leaderboard()
    # Four runs, four learners, each with one submission of 9 tokens.
    assert len(board) == 4
    assert all(e["submissions"] == 1 and e["score"].tokens_used == 9
               for e in board)
    done = subprocess.run(
        [sys.executable, "-m", "attnoracle.study", "--challenge", "tiny-d4",
         "--algo", "probe", "--budgets", "9", "--out", str(tmp_path),
         "--server", "127.0.0.1:1"], capture_output=True, text=True,
        env={k: v for k, v in os.environ.items()
             if k != "ATTNORACLE_ADMIN_TOKEN"})
    assert done.returncode == 2 and "admin token" in done.stderr
