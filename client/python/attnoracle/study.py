"""Budget studies: run learners at several token budgets and seeds, each on a
fresh budget, and draw the learning curve.

    python3 -m attnoracle.study --challenge two-head-d16 \\
        --algo regress,py-regress --budgets 64,128,256 --seeds 3 \\
        --out scratch/study

Learners: the C++ reference learners of ``oracle-client learn`` by name
(``probe``, ``regress``) and the Python ones of ``ao.learners`` with the
prefix ``py-`` (``py-probe``, ``py-regress``). By default the study starts
its own server (``--db=:memory:``, ``--open_learner_ids``, each run under a
name of its own, so each has the whole budget); with ``--server`` it uses a
remote one and registers one learner per run with the admin token.

Writes DIR/runs.csv, DIR/curve.png and DIR/curve.svg, and prints the area
under the learning curve per learner (docs/VERIFICATION.md, "Budget
studies") and the smallest budget that reached each error threshold.
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
import uuid

import numpy as np

import attnoracle as ao
from attnoracle import learners, server

COLUMNS = ("challenge", "algo", "budget", "seed", "queries", "tokens",
           "functional_rel_err", "bits", "seconds")
THRESHOLDS = (1e-2, 1e-4, 1e-8, 1e-12)
# Bits of precision that count as perfect in the curve's area: a float64
# mantissa.
FULL_BITS = 53.0
# Floor of the plotted error (an exact fit scores 0, which log axes drop).
PLOT_FLOOR = 1e-32
PYTHON_PREFIX = "py-"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python3 -m attnoracle.study",
        description="Run learners at several budgets and seeds, each on a "
        "fresh budget; write runs.csv, curve.png and curve.svg.")
    p.add_argument("--challenge", required=True, help="challenge id")
    p.add_argument("--algo", required=True, action="append",
                   help="learners, comma-separated: probe, regress (C++, "
                   "through oracle-client) or py-probe, py-regress (Python)")
    p.add_argument("--budgets", required=True,
                   help="token budgets, comma-separated, e.g. 64,128,256")
    p.add_argument("--seeds", type=int, default=3,
                   help="runs per (learner, budget), seeds 1..N (default 3)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--server", help="HOST:PORT of a remote server (default: "
                   "start one with --db=:memory:)")
    p.add_argument("--admin-token-file", help="with --server: file whose "
                   "first line is the admin token (default "
                   "$ATTNORACLE_ADMIN_TOKEN)")
    p.add_argument("--config", help="local server: ChallengeSet file "
                   "(default: the built-in challenges)")
    p.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds a regress run may optimise (default 60)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    args.algo = [a for arg in args.algo for a in arg.split(",") if a]
    for algo in args.algo:
        name = algo.removeprefix(PYTHON_PREFIX)
        if name not in learners.LEARNERS:
            p.error(f"--algo: unknown learner {algo!r}; known: probe, "
                    "regress, py-probe, py-regress")
    try:
        args.budgets = [int(b) for b in args.budgets.split(",") if b]
    except ValueError:
        p.error(f"--budgets: not a list of integers: {args.budgets!r}")
    if not args.budgets or min(args.budgets) < 1:
        p.error("--budgets: give at least one budget, each at least 1 token")
    if args.seeds < 1:
        p.error("--seeds: at least 1")
    if args.server:
        token = os.environ.get("ATTNORACLE_ADMIN_TOKEN", "")
        if args.admin_token_file:
            with open(args.admin_token_file) as f:
                token = f.readline().strip()
        if not token:
            p.error("--server needs the admin token (--admin-token-file or "
                    "$ATTNORACLE_ADMIN_TOKEN) to register a learner per run")
        args.admin_token = token
    return args


class Progress:
    """A progress bar on stderr (one line per run when not a terminal)."""

    def __init__(self, total, quiet):
        self.total, self.done, self.quiet = total, 0, quiet
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, what):
        self.done += 1
        if self.quiet:
            return
        width = 30
        filled = width * self.done // self.total
        elapsed = time.monotonic() - self.start
        line = (f"[{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done}/{self.total} runs, {elapsed:.0f} s  {what}")
        if self.tty:
            sys.stderr.write("\r" + line.ljust(100))
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Study:
    """Runs learners against one server, each run as a fresh learner."""

    def __init__(self, args, address, admin_token=None):
        self.args = args
        self.address = address
        self.admin_token = admin_token
        self.tag = uuid.uuid4().hex[:8]
        self.bound_tokens = None

    def _identity(self, algo, budget, seed):
        """(token, learner name) of a fresh learner for one run."""
        name = f"study-{self.tag}-{algo}-{budget}-{seed}"
        if not self.admin_token:
            return None, name
        with ao.connect(self.address, self.admin_token) as admin:
            return admin.register_learner(name), None

    def run(self, algo, budget, seed):
        """One run; a CSV row (dict), or raises with the learner's reason."""
        token, name = self._identity(algo, budget, seed)
        start = time.monotonic()
        if algo.startswith(PYTHON_PREFIX):
            learn = learners.LEARNERS[algo.removeprefix(PYTHON_PREFIX)]
            with ao.connect(self.address, token, learner=name) as oracle:
                ch = oracle.challenge(self.args.challenge)
                kwargs = {"time_limit": self.args.time_limit} \
                    if algo.endswith("regress") else {}
                params = learn(ch, max_tokens=budget, seed=seed, **kwargs)
                score = ch.submit(params)
            result = {"queries": score.queries_used,
                      "tokens": score.tokens_used,
                      "functional_rel_err": score.functional_rel_err,
                      "bits": score.bits,
                      "tokens_to_bound": score.tokens_to_bound}
        else:
            result = self._run_cpp(algo, budget, seed, token, name)
        seconds = time.monotonic() - start
        if result.get("tokens_to_bound"):
            self.bound_tokens = result["tokens"] / result["tokens_to_bound"]
        return {"challenge": self.args.challenge, "algo": algo,
                "budget": budget, "seed": seed, "queries": result["queries"],
                "tokens": result["tokens"],
                "functional_rel_err": result["functional_rel_err"],
                "bits": result["bits"], "seconds": round(seconds, 3)}

    def _run_cpp(self, algo, budget, seed, token, name):
        client = server.find_binary("oracle-client", "ATTNORACLE_CLIENT_BIN")
        command = [client, f"--server={self.address}", "--json",
                   "learn", self.args.challenge, f"--algo={algo}",
                   f"--max_tokens={budget}", f"--seed={seed}",
                   f"--time_limit={self.args.time_limit}"]
        command.append(f"--learner={name}" if name else f"--token={token}")
        env = dict(os.environ)
        env.pop("ATTNORACLE_TOKEN", None)
        done = subprocess.run(command, capture_output=True, text=True,
                              env=env, timeout=self.args.time_limit + 120)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(reason)
        return json.loads(done.stdout)


def aulc(budgets, bits, max_budget):
    """The normalised area under the learning curve: precision
    y = min(bits, 53) / 53 against x = log2(1 + budget) / log2(1 +
    max_budget), from (0, 0) (no token, no precision), straight between
    points, flat after the last one. A learner perfect from budget b on
    scores 1 - x(b) / 2; 0 is no precision at any budget.
    """
    xs = [0.0] + [math.log2(1 + b) / math.log2(1 + max_budget)
                  for b in budgets]
    ys = [0.0] + [min(max(b, 0.0), FULL_BITS) / FULL_BITS for b in bits]
    area = sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2
               for i in range(len(xs) - 1))
    return area + (1.0 - xs[-1]) * ys[-1]


def summarise(rows, budgets):
    """Per learner: budgets run, median error and bits and min-max error
    per budget, the AULC and the smallest budget reaching each threshold."""
    summary = {}
    for algo in dict.fromkeys(r["algo"] for r in rows):
        per = {"budgets": [], "tokens": [], "median": [], "low": [],
               "high": [], "bits": []}
        for b in budgets:
            runs = [r for r in rows if r["algo"] == algo and r["budget"] == b]
            if not runs:
                continue
            errors = [r["functional_rel_err"] for r in runs]
            per["budgets"].append(b)
            per["tokens"].append(float(np.median([r["tokens"] for r in runs])))
            per["median"].append(float(np.median(errors)))
            per["low"].append(min(errors))
            per["high"].append(max(errors))
            per["bits"].append(float(np.median([r["bits"] for r in runs])))
        per["aulc"] = aulc(per["budgets"], per["bits"], max(budgets))
        per["reached"] = {
            t: next((b for b, e in zip(per["budgets"], per["median"])
                     if e <= t), None) for t in THRESHOLDS}
        summary[algo] = per
    return summary


def plot(summary, bound_tokens, title, out_dir):
    """curve.png and curve.svg: error against tokens, log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for algo, per in summary.items():
        x = per["tokens"]
        line, = ax.plot(x, np.maximum(per["median"], PLOT_FLOOR), marker="o",
                        label=f"{algo} (median)")
        ax.fill_between(x, np.maximum(per["low"], PLOT_FLOOR),
                        np.maximum(per["high"], PLOT_FLOOR),
                        color=line.get_color(), alpha=0.2)
    if bound_tokens:
        ax.axvline(bound_tokens, color="grey", linestyle="--",
                   label=f"counting bound ({bound_tokens:g} tokens)")
    # Powers of two, written out: the budget axis of the AULC.
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_yscale("log")
    ax.set_xlabel("tokens spent")
    ax.set_ylabel("functional relative error")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths = [os.path.join(out_dir, "curve." + ext) for ext in ("png", "svg")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def report(summary, out=sys.stdout):
    print(f"{'learner':<14} {'AULC':>6}  smallest budget (tokens) with "
          "median error <= " + "  ".join(f"{t:g}" for t in THRESHOLDS),
          file=out)
    for algo, per in summary.items():
        reached = "  ".join(f"{str(per['reached'][t] or '-'):>5}"
                            for t in THRESHOLDS)
        print(f"{algo:<14} {per['aulc']:6.3f}  {reached}", file=out)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.out, exist_ok=True)
    local = None
    if args.server:
        address, admin_token = args.server, args.admin_token
    else:
        try:
            local = server.LocalServer(
                config=args.config, open_learner_ids=True,
                extra_args=["--max_open_learners=100000"]).start()
        except (FileNotFoundError, RuntimeError) as e:
            print(f"study: {e}", file=sys.stderr)
            return 1
        address, admin_token = local.address, None
    rows, failures = [], []
    try:
        study = Study(args, address, admin_token)
        plan = [(a, b, s) for a in args.algo for b in args.budgets
                for s in range(1, args.seeds + 1)]
        progress = Progress(len(plan), args.quiet)
        for algo, budget, seed in plan:
            try:
                rows.append(study.run(algo, budget, seed))
                progress.step(f"{algo} budget {budget} seed {seed}")
            except (ao.OracleError, RuntimeError, ValueError) as e:
                failures.append(f"{algo} budget {budget} seed {seed}: {e}")
                progress.step(f"{algo} budget {budget} seed {seed} FAILED")
    finally:
        if local:
            local.stop()
    for f in failures:
        print("study: run failed:", f, file=sys.stderr)
    csv_path = os.path.join(args.out, "runs.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if not rows:
        print("study: no run succeeded; nothing to plot", file=sys.stderr)
        return 1
    summary = summarise(rows, args.budgets)
    paths = plot(summary, study.bound_tokens,
                 f"{args.challenge}: error against tokens", args.out)
    report(summary)
    print(f"wrote {csv_path} ({len(rows)} runs), {paths[0]}, {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
