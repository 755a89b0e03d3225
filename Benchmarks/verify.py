"""The verification section of `make bench` (imported by run.py), issue 18.5.

Runs `concord-bench --suite verify` (VerifyBenchmark.swift) --runs times, each in a fresh
directory: a class of learners (30 by default) answers questions (20), each answer a
burst of writes (4) to its record; the same writes are sealed one bundle per write, one
per burst (the live SyncEngine's quiet-period debounce) and one per offline sync (5
answers); a teacher device joining with a fresh SQLite replica imports the class's
bundles as a relay pull does (pages of 4 MiB, one store transaction each). The same
bundles are then verified again alone (BundleVerifier: decode, Ed25519 signature,
certificate chain once per device) and their signatures alone (Ed25519).

Both kinds of space are measured: with members (format 3, what `concord init` and
`Replica.create(at:name:)` make: no certificate chains, roles from the membership) and
without (format 2, made by earlier versions: each device's first bundle carries its
certificate chain, verified once).

Prints the medians and the goal: verification under 25% of the import of a typical
classroom sync, judged on the live case (one bundle per burst) in a space with members.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile

GOAL_SHARE = 0.25  # verification under 25% of a typical classroom sync's import (issue 18.5)
GOAL_MODE = "burst"
GOAL_FORMAT = 3
FORMATS = ((3, "members"), (2, "no members"))
MODES = (("write", "one bundle per write"), ("burst", "one per burst (live engine)"), ("sync", "one per offline sync"))


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def run_verify(concord_bin: str, seed: int, runs: int, timeout: float, base_dir: str | None = None,
               learners: int = 30, answers: int = 20, burst: int = 4) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, goal met)."""
    from run import render_table

    results: dict[tuple[int, str], list[dict]] = {}
    base = tempfile.mkdtemp(prefix="concord-verify-bench-", dir=base_dir)
    try:
        for i in range(runs):
            for fmt, _ in FORMATS:
                d = f"{base}/run-{i}-format-{fmt}"
                cmd = [concord_bin, "--suite", "verify", "--seed", str(seed), "--dir", d, "--learners", str(learners),
                       "--answers", str(answers), "--burst", str(burst), "--format", str(fmt)]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
                if proc.returncode != 0:
                    raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
                for line in proc.stdout.splitlines():
                    if line.strip().startswith("{"):
                        obj = json.loads(line)
                        results.setdefault((obj.get("format", 2), obj["mode"]), []).append(obj)
                shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    med = {m: {k: _median([r[k] for r in rs]) for k in ("import_s", "verify_s", "ed25519_s", "share", "ed25519_share", "cpu_share")}
           for m, rs in results.items()}
    rows = []
    for fmt, kind in FORMATS:
        for mode, label in MODES:
            if (fmt, mode) not in results:
                continue
            first, m = results[(fmt, mode)][0], med[(fmt, mode)]
            rows.append([kind, label, f"{first['bundles']:,}", f"{first['ops_applied'] / first['bundles']:.1f}",
                         f"{first['bundle_bytes'] / first['bundles']:,.0f}", f"{m['import_s'] * 1e3:,.1f}",
                         f"{m['import_s'] / first['bundles'] * 1e6:,.0f}", f"{m['verify_s'] * 1e3:,.1f}",
                         f"{m['ed25519_s'] * 1e3:,.1f}", f"{m['share'] * 100:.1f}%", f"{m['ed25519_share'] * 100:.1f}%",
                         f"{m['cpu_share'] * 100:.1f}%"])
    any_run = next(iter(results.values()))[0]
    text = [f"== verification per bundle: a classroom's sync ({any_run['learners']} learners x {any_run['answers']} answers x "
            f"{any_run['burst']} writes = {any_run['writes']:,} writes), teacher imports into SQLite as a relay pull does; "
            f"medians of {runs} runs ==",
            render_table(["space", "sealed as", "bundles", "ops/bundle", "bytes/bundle", "import ms", "import us/bundle",
                          "verify ms", "ed25519 ms", "verify/import", "ed25519/import", "(CPU time)"], rows),
            "verify = BundleVerifier.verify of the same bytes alone (decode, Ed25519 signature; without members also the "
            "certificate chain once per device); ed25519 = the signatures alone; import = Replica.import of the pull's pages (verify, decrypt, apply, SQLite); "
            "times are wall clock, the last column the same share in process CPU time (insensitive to other load)"]
    met = False
    goal = (GOAL_FORMAT, GOAL_MODE)
    if goal in med:
        share = med[goal]["share"]
        met = share < GOAL_SHARE
        before = f"; one bundle per write: {med[(GOAL_FORMAT, 'write')]['share'] * 100:.1f}%" if (GOAL_FORMAT, "write") in med else ""
        if (2, GOAL_MODE) in med:
            before += f"; a space without members (format 2): {med[(2, GOAL_MODE)]['share'] * 100:.1f}%"
        sizes = "" if (learners, answers) == (30, 20) else " [quick sizes; the goal is for 30 learners x 20 answers]"
        text += ["", f"Goal: verification < {GOAL_SHARE * 100:.0f}% of a typical classroom sync (live engine, one bundle per burst, "
                     "a space with members)",
                 f"  verification share {share * 100:.1f}% -> {'PASS' if met else 'MISS'}{before}{sizes}"]
    lines = []
    for (fmt, mode), m in sorted(med.items()):
        for key, value in m.items():
            lines.append(json.dumps({"workload": f"verify/format{fmt}/{mode}", "system": "concord", "metric": key, "value": value,
                                     "unit": "fraction" if "share" in key else "s"}))
    return "\n".join(text), lines, met
