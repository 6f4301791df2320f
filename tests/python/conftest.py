"""Fixtures of the Python package's tests: real oracle-server processes on
free ports with --db=:memory:, started once per session and stopped after.

The binaries come from $ATTNORACLE_SERVER_BIN and $ATTNORACLE_CLIENT_BIN
(ctest sets them), the package from PYTHONPATH=build/python.
"""

import itertools
import os

import pytest

import attnoracle as ao
from attnoracle.server import LocalServer

ADMIN_TOKEN = "test-admin-token-0123456789"
HERE = os.path.dirname(os.path.abspath(__file__))
_names = itertools.count()


@pytest.fixture(scope="session")
def open_server():
    """Open mode with learner names: each test's learner has its own
    budget."""
    with LocalServer(open_learner_ids=True,
                     extra_args=["--max_open_learners=100000"]) as server:
        yield server


@pytest.fixture(scope="session")
def contest_server():
    """Competition mode (admin token) on the built-in challenges plus
    tests/python/challenges.textproto."""
    with LocalServer(admin_token=ADMIN_TOKEN) as server:
        with ao.connect(server.address, ADMIN_TOKEN) as admin:
            _create(admin, os.path.join(HERE, "challenges.textproto"))
        yield server


def _create(admin, path):
    from google.protobuf import text_format
    from attnoracle.v1 import admin_pb2, types_pb2
    with open(path) as f:
        challenge_set = text_format.Parse(f.read(), types_pb2.ChallengeSet())
    for config in challenge_set.challenge:
        admin.call(admin._admin.CreateChallenge,
                   admin_pb2.CreateChallengeRequest(config=config),
                   "CreateChallenge")


@pytest.fixture
def learner_name():
    return f"py-test-{next(_names)}"


@pytest.fixture
def oracle(open_server, learner_name):
    """A connection as a fresh learner of the open server."""
    with ao.connect(open_server.address, learner=learner_name) as o:
        yield o


@pytest.fixture(scope="session")
def admin(contest_server):
    with ao.connect(contest_server.address, ADMIN_TOKEN) as o:
        yield o


@pytest.fixture
def contest_learner(contest_server, admin, learner_name):
    """A registered learner of the competition server, connected."""
    token = admin.register_learner(learner_name)
    with ao.connect(contest_server.address, token) as o:
        yield o
