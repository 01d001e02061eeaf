#!/usr/bin/env python3
"""Compares the benchmark's figures with the committed ones: releases, not only runs.

`scripts/bench` writes every figure to bench/figures.tsv (`name<TAB>value<TAB>unit`, lower is
better for all of them: sizes, cold init, peak RSS, run and rotation times, ratios). This prints
each beside the value committed at HEAD and flags one that grew by more than 10% (or from 0, or
disappeared), unless a commit after the one that last recorded the figures says why, with a
trailer in its message:

    Bench-why: rotate-postgres.size: sqlx 0.9.1 (TCP_NODELAY again) adds 6 KiB

The name may be a glob (`*.init`, `rotate-redis.*`). Exit status 1 when a growth is unexplained.
`--self-test` checks the comparison itself.
"""

import fnmatch
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = "bench/figures.tsv"
LIMIT = 0.10


def parse(text):
    figures = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] and not parts[0].startswith("#"):
            try:
                value = float(parts[1])
            except ValueError:
                continue
            if math.isfinite(value):
                figures[parts[0]] = (value, parts[2])
    return figures


def trailers(messages):
    """(glob, reason) for every `Bench-why: <glob>: <reason>` line of the messages."""
    whys = []
    for message in messages:
        for line in message.splitlines():
            if line.lower().startswith("bench-why:"):
                rest = line.split(":", 1)[1].strip()
                glob, _, reason = rest.partition(":")
                if glob.strip() and reason.strip():
                    whys.append((glob.strip(), reason.strip()))
    return whys


def compare(committed, now, whys):
    """Rows (name, committed, now, unit, note) and the names whose growth nobody explained."""
    rows, unexplained = [], []

    def judge(name, what):
        reason = next((r for g, r in whys if fnmatch.fnmatchcase(name, g)), None)
        if reason:
            return f"{what}, explained: {reason}"
        unexplained.append(name)
        return f"{what}: UNEXPLAINED (add a `Bench-why: {name}: ...` trailer)"

    for name in sorted(set(committed) | set(now)):
        if name not in now:
            # A figure that disappears (a function the bench no longer measures) needs a reason too.
            rows.append((name, committed[name][0], None, committed[name][1], judge(name, "gone")))
            continue
        value, unit = now[name]
        if name not in committed:
            rows.append((name, None, value, unit, "new"))
            continue
        before = committed[name][0]
        note = ""
        if before <= 0 < value:
            note = judge(name, "grew from 0")
        elif before > 0 and value > before * (1 + LIMIT):
            note = judge(name, f"grew {100 * (value / before - 1):+.0f}%")
        rows.append((name, before, value, unit, note))
    return rows, unexplained


def git(*args):
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout if out.returncode == 0 else None


def main(path):
    with open(path) as f:
        now = parse(f.read())
    committed_text = git("show", f"HEAD:{FIGURES}")
    if committed_text is None:
        print(f"no committed {FIGURES} to compare with: commit this run's as the first release")
        return 0
    committed = parse(committed_text)
    # The reasons: trailers of the commits after the one that last recorded the figures.
    last = (git("log", "-1", "--format=%H", "--", FIGURES) or "").strip()
    messages = (git("log", "--format=%B%x00", f"{last}..HEAD") or "").split("\0") if last else []
    rows, unexplained = compare(committed, now, trailers(messages))
    cell = lambda v: "" if v is None else f"{v:.2f}"
    print("| figure | committed | now | unit | |")
    print("|---|---|---|---|---|")
    for name, before, value, unit, note in rows:
        print(f"| {name} | {cell(before)} | {cell(value)} | {unit} | {note} |")
    if unexplained:
        print(f"{len(unexplained)} figure(s) grew by more than {LIMIT:.0%} with no reason given: "
              + ", ".join(unexplained))
        return 1
    print(f"no figure grew by more than {LIMIT:.0%} without a reason")
    return 0


def self_test():
    committed = parse("a.size\t8.00\tMiB\na.init\t5.00\tms\nb.init\t5.00\tms\nc.run\t10\tms\nz\t1\tx\n")
    now = parse("a.size\t8.79\tMiB\na.init\t5.60\tms\nb.init\t6.00\tms\nc.run\t2\tms\nn\t1\tx\n")
    whys = trailers(["issue 9: thing\n\nBench-why: b.*: a new check at start\nBench-why: bad\n"])
    assert whys == [("b.*", "a new check at start")], whys
    rows, unexplained = compare(committed, now, whys)
    notes = {name: note for name, _, _, _, note in rows}
    assert notes["a.size"] == "", notes  # +9.9%: within the limit
    assert unexplained == ["a.init", "z"], unexplained  # +12%, no trailer; z gone
    assert notes["b.init"].startswith("grew +20%, explained"), notes
    assert notes["c.run"] == "", notes  # faster is never flagged
    assert notes["n"] == "new" and notes["z"].startswith("gone: UNEXPLAINED"), notes
    rows, unexplained = compare(committed, now, trailers(["Bench-why: *.init: both\nBench-why: z: dropped"]))
    assert unexplained == [], unexplained
    rows, unexplained = compare(parse("q\t0\tms\n"), parse("q\t3\tms\nr\tnan\tms\n"), [])
    assert unexplained == ["q"] and [r[0] for r in rows] == ["q"], (rows, unexplained)
    print("bench_compare self-test: passed (limit, trailers, globs, faster, new, gone, from 0, NaN)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, FIGURES)))
