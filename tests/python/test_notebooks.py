"""The lessons of docs/teaching/ run top to bottom against a real server on
configs/classroom.textproto, with their exercises' reference solutions
(teaching_solutions.py) put in place of the cells tagged "exercise", and
every check passes. The exercises as handed out fail with
NotImplementedError."""

import os

import nbformat
import pytest
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor

from attnoracle.server import LocalServer
from conftest import HERE
from teaching_solutions import SOLUTIONS

ROOT = os.path.dirname(os.path.dirname(HERE))
TEACHING = os.path.join(ROOT, "docs", "teaching")
LESSONS = sorted(name[:-6] for name in os.listdir(TEACHING)
                 if name.endswith(".ipynb"))


@pytest.fixture(scope="module")
def class_server():
    with LocalServer(config=os.path.join(ROOT, "configs",
                                         "classroom.textproto"),
                     open_learner_ids=True) as server:
        yield server


def run(name, server, student, solved):
    nb = nbformat.read(os.path.join(TEACHING, name + ".ipynb"), as_version=4)
    exercises = [c for c in nb.cells if "exercise" in c.metadata.get("tags",
                                                                     [])]
    assert len(exercises) == len(SOLUTIONS[name]), name
    if solved:
        for cell, solution in zip(exercises, SOLUTIONS[name]):
            cell.source = solution
    os.environ["ATTNORACLE_SERVER"] = server.address
    os.environ["ATTNORACLE_LEARNER"] = student
    # Quiets the kernel's debugger notes on stderr, which are not lesson text.
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    ExecutePreprocessor(timeout=120, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": TEACHING}})
    return "".join(o.get("text", "") for c in nb.cells
                   if c.cell_type == "code" for o in c.get("outputs", []))


def test_there_are_five_lessons():
    assert len(LESSONS) == 5 and set(LESSONS) == set(SOLUTIONS)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_passes_with_the_reference_solution(name, class_server):
    printed = run(name, class_server, f"student-{name}", solved=True)
    checks = [line for line in printed.splitlines()
              if line.startswith("passed:")]
    assert checks, printed
    assert all(line.startswith("passed: True") for line in checks), printed


def test_an_unsolved_exercise_stops_the_lesson(class_server):
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        run("lesson1-omega", class_server, "student-unsolved", solved=False)
