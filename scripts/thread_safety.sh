#!/usr/bin/env bash
# Checks the lock annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED,
# ABSL_LOCKS_EXCLUDED, ...) with clang's thread-safety analysis, which GCC
# does not have: every source file of the project's own targets (libraries,
# programs, tests, fuzz targets, bench) under -Wall -Wextra -Wthread-safety
# -Werror (the ATTNORACLE_THREAD_SAFETY option), in build-thread-safety/.
#   scripts/thread_safety.sh        # two files at a time
#   scripts/thread_safety.sh 4      # four at a time
# The analysis runs in clang's front end, so nothing is compiled to code or
# linked: after generating the protobuf headers the script runs the
# compile_commands.json entry of each file of ours with -fsyntax-only. Prints
# every warning and exits non-zero when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-2}
scripts/deps.sh fuzz

build_dir=build-thread-safety
# Debug without optimisation: the front end's work is the same, and assert()
# bodies stay in the code that is analysed (NDEBUG would drop them).
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DATTNORACLE_THREAD_SAFETY=ON -DATTNORACLE_NATIVE=OFF >/dev/null
# Only the generated headers our sources include; their .cc are not ours.
mapfile -t headers < <(ninja -C "$build_dir" -t targets all |
  sed -n 's/^\([^/][^:]*\.pb\.h\): .*/\1/p')
if [ ${#headers[@]} -eq 0 ]; then
  echo "thread_safety: no generated protobuf headers in $build_dir" >&2
  exit 1
fi
ninja -C "$build_dir" --quiet "${headers[@]}"

python3 - "$build_dir/compile_commands.json" "$jobs" <<'EOF'
import concurrent.futures, json, shlex, subprocess, sys

entries, jobs = json.load(open(sys.argv[1])), int(sys.argv[2])
# The project's own files are the ones built with attnoracle_strict().
ours = [e for e in entries if "-Wthread-safety" in e["command"]]
if not ours:
    sys.exit("thread_safety: no file is built with -Wthread-safety")

def check(entry):
    # clang ignores -c and -o under -fsyntax-only and writes nothing.
    args = shlex.split(entry["command"]) + ["-fsyntax-only"]
    run = subprocess.run(args, cwd=entry["directory"], capture_output=True,
                         text=True)
    return entry["file"], run.returncode, run.stderr

failed = 0
with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    for name, rc, stderr in pool.map(check, ours):
        if rc != 0 or stderr:
            failed += 1
            print(f"== {name}\n{stderr}", end="", file=sys.stderr)
print(f"thread safety: {len(ours)} files checked, {failed} with findings")
sys.exit(1 if failed else 0)
EOF
