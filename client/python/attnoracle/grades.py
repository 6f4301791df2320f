"""A grade sheet of a class: one row per student and challenge.

    python3 -m attnoracle.grades --server HOST:PORT --class class.csv \\
        --config configs/classroom.textproto --out grades.csv

With the admin token ($ATTNORACLE_ADMIN_TOKEN or --admin-token-file), which
sees every learner's full metrics on the leaderboards. Columns: student,
challenge, passed, best_error (the best submission's functional_rel_err,
empty without a submission), tokens (spent by that submission's time).
The class list is read as ``oracle-client admin register-class`` reads it:
the first column, blank and ``#`` lines skipped, and a first line that is
not a learner name (a header) skipped.
"""

import argparse
import csv
import os
import re
import sys

import attnoracle as ao

NAME = re.compile(r"^[a-z0-9._-]{1,64}$")
HEADER_WORDS = ("name", "learner", "student")
COLUMNS = ("student", "challenge", "passed", "best_error", "tokens")


def read_class(path):
    """The learner names of a class list (text or CSV), read as
    ``admin register-class`` reads it. ValueError names a bad line."""
    names, first = [], True
    with open(path, newline="", encoding="utf-8-sig") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            name = row[0].strip() if row else ""
            if not name or name.startswith("#"):
                continue
            valid = bool(NAME.match(name)) and name != "anonymous"
            if first:
                first = False
                if not valid or name in HEADER_WORDS:
                    continue
            if not valid:
                raise ValueError(f"{path}:{number}: {name!r} is not a "
                                 "learner name (1 to 64 of [a-z0-9._-])")
            names.append(name)
    return names


def challenge_ids(config_path):
    """The challenge ids of a ChallengeSet text file."""
    from google.protobuf import text_format
    from attnoracle.v1 import types_pb2
    with open(config_path) as f:
        challenge_set = text_format.Parse(f.read(), types_pb2.ChallengeSet())
    return [c.id for c in challenge_set.challenge]


def grade_sheet(oracle, students, challenges):
    """Rows (dicts of COLUMNS) from the challenges' leaderboards."""
    rows = []
    for challenge in challenges:
        best = {e["learner"]: e["score"]
                for e in oracle.challenge(challenge).leaderboard()}
        for student in students:
            score = best.get(student)
            rows.append({
                "student": student, "challenge": challenge,
                "passed": "yes" if score and score.passed else "no",
                "best_error": f"{score.functional_rel_err:.3g}"
                if score else "",
                "tokens": score.tokens_used if score else ""})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m attnoracle.grades",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default="127.0.0.1:50051", help="HOST:PORT")
    p.add_argument("--class", dest="class_list", required=True,
                   help="class list: names one a line, or a CSV file whose "
                   "first column holds them")
    p.add_argument("--config", help="grade the challenges of this "
                   "ChallengeSet file (default: every hosted challenge)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--admin-token-file", help="default "
                   "$ATTNORACLE_ADMIN_TOKEN")
    p.add_argument("--tls-ca", help="PEM CA file, for a TLS server")
    args = p.parse_args(argv)
    token = os.environ.get("ATTNORACLE_ADMIN_TOKEN", "")
    if args.admin_token_file:
        with open(args.admin_token_file) as f:
            token = f.readline().strip()
    if not token:
        p.error("the admin token is needed (--admin-token-file or "
                "$ATTNORACLE_ADMIN_TOKEN)")
    try:
        students = read_class(args.class_list)
        with ao.connect(args.server, token, tls_ca=args.tls_ca) as oracle:
            challenges = (challenge_ids(args.config) if args.config else
                          [c.id for c in oracle.challenges()])
            rows = grade_sheet(oracle, students, challenges)
    except (OSError, ValueError, ao.OracleError) as e:
        print(f"grades: {e}", file=sys.stderr)
        return 1
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    passed = sum(r["passed"] == "yes" for r in rows)
    print(f"wrote {args.out}: {len(students)} students x {len(challenges)} "
          f"challenges, {passed} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
