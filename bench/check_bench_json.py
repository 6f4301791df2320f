#!/usr/bin/env python3
"""Smoke test of oracle-bench: a very short run of every workload, ledger and
in-flight count, and of every step of the required-work floor, must print one
JSON document with a positive rate and CPU time per query for each (and
the context-switch fields present), and name the malloc it ran with, whose
library's file name must start with the one given (libjemalloc when the
build links jemalloc, libc otherwise).

    check_bench_json.py build/bin/oracle-bench libjemalloc
"""
import itertools
import json
import subprocess
import sys

WORKLOADS = ["small", "batched", "streaming", "large", "learner-regress-d16",
             "learner-regress-d64", "learner-probe-d16", "learner-probe-d64"]
LEDGERS = ["memory", "sqlite"]
IN_FLIGHT = [1, 64]
# Not in the default list: the large layer classes, run once each here.
LAYER_CLASSES = ["large_grouped", "large_ffn", "large_stack"]
FLOOR_STEPS = ["shape", "forward", "digests", "kept", "durable"]
REQUIRED = ["name", "ledger", "in_flight", "qps", "tokens_per_s", "p50_us",
            "p99_us", "echo_qps", "echo_p99_us", "ratio_to_echo",
            "cpu_us_per_query", "echo_cpu_us_per_query", "switches_per_query",
            "echo_switches_per_query"]


def no_cost(row):
    """A row whose run cost no CPU time was not measured."""
    return (row.get("cpu_us_per_query", 0) <= 0 or
            row.get("echo_cpu_us_per_query", 0) <= 0)


def check_layer_classes(bench):
    """The large layer classes' rows, each with a positive FLOP rate."""
    run = subprocess.run(
        [bench, "--json", "--seconds=0.1", "--round_seconds=0.1",
         "--gemm_seconds=0.1", "--in_flight=1", "--ledger=memory",
         "--workloads=" + ",".join(LAYER_CLASSES)],
        stdout=subprocess.PIPE, check=False, timeout=100)
    if run.returncode != 0:
        return [f"oracle-bench (layer classes) exited {run.returncode}"]
    rows = {w["name"]: w for w in json.loads(run.stdout)["workloads"]}
    problems = []
    for name in LAYER_CLASSES:
        row = rows.get(name)
        if row is None:
            problems.append(f"missing {name}")
        elif row.get("gflops", 0) <= 0 or row.get("ratio_to_gemm_peak", 0) <= 0:
            problems.append(f"{name} has no gflops: {row}")
    return problems


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_bench_json.py ORACLE_BENCH MALLOC_LIBRARY")
    bench, malloc_library = sys.argv[1], sys.argv[2]
    run = subprocess.run(
        [bench, "--json", "--seconds=0.1", "--round_seconds=0.1",
         "--gemm_seconds=0.1", "--in_flight=1,64", "--floor"],
        stdout=subprocess.PIPE, check=False, timeout=100)
    if run.returncode != 0:
        sys.exit(f"oracle-bench exited {run.returncode}")
    doc = json.loads(run.stdout)
    rows = {(w["name"], w["ledger"], w["in_flight"]): w
            for w in doc["workloads"]}
    problems = []
    if not doc.get("malloc", "").startswith(malloc_library + "."):
        problems.append(f"malloc is served by {doc.get('malloc')!r}, not by "
                        f"{malloc_library}.*, as the build links it (a "
                        f"preloaded allocator, or a link that lost it?)")
    for key in itertools.product(WORKLOADS, LEDGERS, IN_FLIGHT):
        row = rows.get(key)
        if row is None:
            problems.append(f"missing {key}")
            continue
        missing = [f for f in REQUIRED if f not in row]
        if missing:
            problems.append(f"{key} lacks {missing}")
        if row.get("qps", 0) <= 0 or row.get("echo_qps", 0) <= 0:
            problems.append(f"{key} has no throughput: {row}")
        if no_cost(row):
            problems.append(f"{key} has no CPU time: {row}")
        if key[0] == "large" and row.get("gflops", 0) <= 0:
            problems.append(f"{key} has no gflops")
    floor = {(f.get("step"), f.get("in_flight")): f
             for f in doc.get("floor", [])}
    for key in itertools.product(FLOOR_STEPS, IN_FLIGHT):
        row = floor.get(key)
        if row is None:
            problems.append(f"missing floor {key}")
            continue
        missing = [f for f in REQUIRED if f != "ledger" and f not in row]
        if missing:
            problems.append(f"floor {key} lacks {missing}")
        if "ledger" in row:
            problems.append(f"floor {key} names a ledger: {row}")
        if row.get("qps", 0) <= 0 or row.get("echo_qps", 0) <= 0:
            problems.append(f"floor {key} has no throughput: {row}")
        if no_cost(row):
            problems.append(f"floor {key} has no CPU time: {row}")
    problems += check_layer_classes(bench)
    if problems:
        sys.exit("\n".join(problems))
    print(f"oracle-bench smoke: {len(rows)} measurements and "
          f"{len(floor)} floor measurements OK, malloc {doc['malloc']}")


if __name__ == "__main__":
    main()
