"""Starts a local oracle-server for a study, a lesson or a test, and stops
it afterwards:

    with ao.server.LocalServer() as server:          # --db=:memory:, port 0
        with ao.connect(server.address) as oracle:
            ...

The binary is found as $ATTNORACLE_SERVER_BIN, else build/bin/oracle-server
beside the build/python the package was imported from.
"""

import os
import pathlib
import re
import subprocess
import tempfile

_BUILD_DIR = pathlib.Path(__file__).resolve().parents[2]


def find_binary(name, env):
    """The path of build/bin/`name` (or of $`env`); FileNotFoundError when
    it is missing."""
    path = os.environ.get(env) or str(_BUILD_DIR / "bin" / name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"{name} not found at {path}: build it (ninja -C build {name}) or "
            f"set {env}")
    return path


class LocalServer:
    """An oracle-server child process on 127.0.0.1 and a free port.

    Args:
      config: a ChallengeSet text file (the built-in challenges if None).
      admin_token: runs the server in competition mode with this token.
      open_learner_ids: lets callers name themselves (each name its own
        budget): how a study gives every run a fresh budget.
      db: the database (":memory:" keeps nothing).
      extra_args: more flags for the server.

    ``address`` is "127.0.0.1:PORT" once started. Not thread-safe.
    """

    def __init__(self, config=None, admin_token=None, open_learner_ids=False,
                 db=":memory:", extra_args=(), binary=None):
        self.binary = binary or find_binary("oracle-server",
                                            "ATTNORACLE_SERVER_BIN")
        self.args = ["--listen=127.0.0.1:0", f"--db={db}", *extra_args]
        if config:
            self.args.append(f"--config={config}")
        if open_learner_ids:
            self.args.append("--open_learner_ids")
        self.admin_token = admin_token
        self.process = None
        self.address = None
        self._token_dir = None

    def start(self):
        args = list(self.args)
        if self.admin_token:
            self._token_dir = tempfile.TemporaryDirectory()
            path = os.path.join(self._token_dir.name, "admin.token")
            with open(path, "w") as f:
                f.write(self.admin_token + "\n")
            args.append(f"--admin_token_file={path}")
        env = dict(os.environ)
        env.pop("ATTNORACLE_ADMIN_TOKEN", None)
        self.process = subprocess.Popen([self.binary, *args],
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        env=env)
        # The server prints its port on its first line once it listens.
        line = self.process.stdout.readline()
        match = re.search(r"listening on port (\d+)", line)
        if not match:
            self.process.kill()
            _, err = self.process.communicate()
            raise RuntimeError(f"oracle-server did not start: {line}{err}")
        self.address = f"127.0.0.1:{match.group(1)}"
        return self

    def stop(self):
        """Stops the server (SIGTERM: it finishes the calls in flight)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
        if self._token_dir:
            self._token_dir.cleanup()
            self._token_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
