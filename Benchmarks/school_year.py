"""The school-year section of `make bench` (issue 16 item 5, Specs/snapshots.md §7): a
classroom's year of data, replica and relay sizes with collection on and off, beside the
same history in Yrs (pycrdt) and Loro.

Runs `concord-bench --suite school-year` three times at once, `--collection on` (pruning,
stability duties, snapshots, compaction on devices and relay retention; writing the op
trace), `--collection prune-only` (pruning and stability duties, no snapshots) and
`--collection off`, then replays the trace with Benchmarks/school_year_peers.py
(skipped with the reason when pycrdt or loro is missing), and prints one table per
measurement day and the goals (PASS/MISS) of the "on" run, with where the bytes go."""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _kb(n) -> str:
    return "-" if n is None else f"{n / 1024:,.0f}"


def run_school_year(concord_bin: str, seed: int, timeout: float, base_dir: str | None = None,
                    days: int = 190, students: int = 29, ops: int = 60) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, every goal met)."""
    base = tempfile.mkdtemp(prefix="concord-school-year-", dir=base_dir)
    try:
        trace = os.path.join(base, "trace.jsonl")
        procs = {}
        cmds = {}
        for mode in MODES:
            d = os.path.join(base, mode)
            os.makedirs(d)
            cmd = [concord_bin, "--suite", "school-year", "--seed", str(seed), "--dir", d, "--collection", mode,
                   "--days", str(days), "--students", str(students), "--ops", str(ops)]
            if mode == "on":
                cmd += ["--trace", trace]
            cmds[mode] = cmd
            procs[mode] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        outs = {}
        for mode, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                for p in procs.values():
                    p.kill()
                raise
            if proc.returncode != 0:
                raise RuntimeError(f"{shlex.join(cmds[mode])} exited {proc.returncode}:\n{err[-4000:]}")
            outs[mode] = out
        peers, peer_note = {}, ""
        missing = [pkg for pkg in ("pycrdt", "loro") if importlib.util.find_spec(pkg) is None]
        if missing:
            peer_note = f"Yrs/Loro not run: Python package(s) {', '.join(missing)} missing (pip install pycrdt loro)"
        else:
            cmd = [sys.executable, str(HERE / "school_year_peers.py"), trace]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
            for line in proc.stdout.splitlines():
                point = json.loads(line)
                peers[(point["system"], point["day"])] = point
    finally:
        shutil.rmtree(base, ignore_errors=True)

    text, lines, met = format_report(outs, peers, peer_note, students, days, ops, shlex.join(cmds["on"][:3]))
    return text, lines, met


MODES = ("on", "prune-only", "off")


def format_report(outs: dict, peers: dict, peer_note: str, students: int, days: int, ops: int,
                  command: str) -> tuple[str, list[str], bool]:
    """The table (one row per measurement day) and the goal lines, from the runs' output
    (JSON lines and text, keyed by mode; a mode not run is left out) and the Yrs/Loro
    points keyed by (system, day)."""
    def points(out):
        found = {}
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    point = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of a run still writing
                found[point["day"]] = point
        return found

    runs = {mode: points(outs.get(mode, "")) for mode in MODES}
    on, prune, off = runs["on"], runs["prune-only"], runs["off"]
    lines = [json.dumps(p) for mode in MODES for p in runs[mode].values()] + [json.dumps(p) for p in peers.values()]
    header = ("| day | ops | replica KB off | replica KB prune only | replica KB prune + compaction | right after compaction KB | "
              "log KB off / on | set tombstones off / on | delete stubs | live records | canonical live KB | "
              "replica / canonical (on) | relay KB off / on | Yrs doc KB | Loro snapshot KB | Loro shallow KB |")
    rows = [header, "|" + "---:|" * 16]
    def n(v):
        return "-" if v is None else f"{v:,}"

    # Every day any run measured (a run stopped early leaves its columns empty); the
    # figures the runs share (ops, records, canonical size) from the first that has them.
    for day in sorted(set(on) | set(prune) | set(off)):
        a, p, b = on.get(day, {}), prune.get(day, {}), off.get(day, {})
        c = a or p or b
        y, lo = peers.get(("yrs", day), {}), peers.get(("loro", day), {})
        ratio = f"{a['median_bytes_on_disk'] / max(1, a['median_canonical_bytes']):.1f}x" if a else "-"
        after = a.get("median_bytes_after_compaction") or None
        rows.append(
            f"| {day} | {n(c['ops_written'])} | {_kb(b.get('median_bytes_on_disk'))} | {_kb(p.get('median_bytes_on_disk'))} | "
            f"{_kb(a.get('median_bytes_on_disk'))} | {_kb(after)} | "
            f"{_kb(b.get('median_log_bytes'))} / {_kb(a.get('median_log_bytes'))} | "
            f"{n(b.get('median_set_tombstones'))} / {n(a.get('median_set_tombstones'))} | "
            f"{n(c['median_delete_stubs'])} | {n(c['median_live_records'])} | {_kb(c['median_canonical_bytes'])} | {ratio} | "
            f"{_kb(b.get('relay_bytes'))} / {_kb(a.get('relay_bytes'))} | "
            f"{_kb(y.get('doc_bytes'))} | {_kb(lo.get('doc_bytes'))} | {_kb(lo.get('shallow_bytes'))} |")
    texts = {}
    for mode in MODES:
        texts[mode] = [line for line in outs.get(mode, "").splitlines()
                       if line and not line.startswith(("{", "|", "  [", "School year", "exit ", "rc "))]
    text = "\n".join([
        f"School year ({students} students + 1 teacher, {days} days, ~{ops} ops per device per day; "
        f"{command} ... --collection on|prune-only|off; medians over the replicas)",
        *rows, "",
        *[f"{mode}: {line}" for mode in MODES for line in texts[mode]],
        *([peer_note] if peer_note else []),
    ])
    met = all("MISS" not in line and "NO" not in line for mode in MODES for line in texts[mode] if mode == "on" or "converged" in line)
    return text, lines, met


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description="The school-year benchmark alone.")
    p.add_argument("--concord-bin", default=str(HERE.parent / ".build/release/concord-bench"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--days", type=int, default=190)
    p.add_argument("--students", type=int, default=29)
    p.add_argument("--ops", type=int, default=60)
    p.add_argument("--dir", default=None)
    p.add_argument("--timeout", type=float, default=7200)
    p.add_argument("--from", dest="from_dir", default=None,
                   help="format the outputs of runs made by hand instead of running: DIR/on.err, DIR/prune-only.err, DIR/off.err "
                        "(concord-bench's stderr: progress and every measurement) and DIR/peers.jsonl, "
                        "peers-yrs.jsonl or peers-loro.jsonl (school_year_peers.py's stdout)")
    a = p.parse_args()
    if a.from_dir:
        d = Path(a.from_dir)
        peers = {}
        for name in ("peers.jsonl", "peers-yrs.jsonl", "peers-loro.jsonl"):
            if not (d / name).exists():
                continue
            for line in (d / name).read_text().splitlines():
                point = json.loads(line)
                peers[(point["system"], point["day"])] = point
        outs = {}
        for mode in MODES:
            parts = [d / f"{mode}.err", d / f"{mode}.out"]
            if any(f.exists() for f in parts):
                outs[mode] = "".join(f.read_text() for f in parts if f.exists())
        report, _, _ = format_report(outs, peers, "", a.students, a.days, a.ops, "concord-bench --suite school-year")
    else:
        report, _, _ = run_school_year(a.concord_bin, a.seed, a.timeout, a.dir, a.days, a.students, a.ops)
    print(report)
