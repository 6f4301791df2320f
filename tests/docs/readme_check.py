#!/usr/bin/env python3
"""Checks that README.md's walkthroughs can be followed as printed.

  readme_check.py REPO_ROOT ORACLE_CLIENT

- every repository path the README names in backticks exists;
- every file a shell walkthrough writes (--db, --out, --save, > FILE) goes
  into scratch/, which git ignores, so following the README leaves the
  checkout clean;
- every command `oracle-client --help` lists is in the README's command
  table.
(Server flags are checked against the README by tests/e2e/cli_e2e.sh.)
Prints one line per failed check and a tally; exits 1 if any failed.
"""
import os
import re
import subprocess
import sys

root, client_bin = sys.argv[1:3]
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)


# Paths in backticks that look like repository files.
repo_dirs = ("configs/", "docs/", "scripts/", "client/", "server/", "common/",
             "proto/", "tests/", "bench/", "docker/")
for path in sorted(set(re.findall(r"`([A-Za-z0-9_./-]+)`", readme))):
    if path.startswith(repo_dirs) and "*" not in path and "..." not in path:
        check(os.path.exists(os.path.join(root, path)),
              f"README names {path}, which does not exist")

# What the walkthroughs write.
blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
check(blocks, "README has no ```sh walkthroughs")
written = re.compile(
    r"(?:--db[ =]|--out[ =]|--save[ =]|(?<![0-9&])>\s*)([^\s;|&)]+)")
for block in blocks:
    for line in block.splitlines():
        code = line.split("#", 1)[0]
        for target in written.findall(code):
            if target in (":memory:", "=:memory:") or target.startswith(
                    ("/dev/", "&", "$")):
                continue
            # Inside `cd scratch/...` blocks, bare names are in scratch too.
            in_scratch_dir = re.search(r"\bcd scratch/", block) and "/" not in target
            check(target.startswith("scratch/") or in_scratch_dir,
                  f"walkthrough writes {target!r} outside scratch/: {line.strip()}")


def help_text(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout + out.stderr


client_help = help_text(client_bin)
table = readme[readme.index("## The command-line client"):]
listing = client_help.split("Commands:", 1)[-1].split("\n\n", 1)[0]
commands = re.findall(r"^  ([a-z][a-z-]+)\b", listing, re.M)
check(len(commands) >= 8, f"oracle-client --help lists only {commands}")
for command in commands:
    check(f"`{command}" in table, f"oracle-client command {command} is not in the README's table")

for f in failures:
    print("FAILED:", f)
print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
