#!/usr/bin/env python3
"""Benchmark driver for `make bench`: Concord vs Yrs (pycrdt) vs Loro, and on the set
workload the Rust `crdts` crate's ORSWOT, same run, same machine.

    python3 Benchmarks/run.py [--json] [--runs 5] [--writes 100000] [--keys 10000]
                              [--concord-bin PATH] [--baseline-bin PATH] [--no-crdts]
                              [--quick] [--only workloads,bundles,store,verify,members,permissions,school-year,new-device]

Sections: the core workloads (below), change bundles (bundles.py), the persisted
SQLite store (store.py: local writes, import vs raw SQLite upserts, queries, memory) and
verification per bundle (verify.py: a classroom's sync of many small bundles, the share
of the import spent verifying, by how the writes were sealed), and membership
(members.py: the import overhead of a 1,000-member space, a rotation's time and size), and
permissions (permissions.py: the merge cost of a 20-rule policy on the map workload), and a
school year (school_year.py: 30 devices, 190 days; replica and relay sizes with collection on
(pruning, snapshots, compaction, relay retention), prune-only and off beside the same history in Yrs and Loro), and a new device (new_device.py: ready from a
snapshot and the bundles above it beside a replay of the whole log, 1M operations, through
the relay server on loopback).

For each workload (map, set) and system (concord, yrs, loro) the workload is run
--runs times, each run in a fresh subprocess (so peak memory is per run):

    concord: <concord-bin> --workload W --writes N --keys K --seed S [--batch B]
    yrs/loro: python3 Benchmarks/peers/crdt_peers.py --system X --workload W ...
    crdts (set only): Benchmarks/peers/crdts_orswot/target/release/crdts-orswot-bench ...,
        built first with `cargo build --release --offline` from Debian's packaged crates
        (apt-get install cargo librust-crdts-dev librust-bincode-dev); skipped with the
        reason printed when cargo or the crates are missing (--no-crdts skips it always)
    baseline (only with --baseline-bin): another Concord benchmark binary, e.g. one built
        from the commit before a change, run beside the others as "before"

On the set workload Concord and crdts print the digest of their draws ("plan_digest") and
of their final members ("members_digest"); the run fails if they differ (not the same
operations, or not the same add-wins result).

Every run prints one JSON object on stdout:

    {"system", "version", "workload", "writes", "keys", "local_writes_per_s",
     "import_ms", "merge_ms", "update_bytes", "converged", "peak_rss_mb", "note"}

plus, optionally, extra numeric keys (e.g. Concord's "state_merge_ms",
"decode_ms"), which are reported as extra rows. Medians over runs are reported;
"converged" is yes only if every run converged.

--json prints only JSON lines on stdout, one per (workload, system, metric) median:
    {"workload": ..., "system": ..., "metric": ..., "value": ..., "unit": ...}
and sends the human-readable report to stderr.

Exit status: 0 ok; 1 some run failed (its stderr is printed); 2 setup problem
(missing Concord binary or Python packages). Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / "peers" / "crdt_peers.py"
DEFAULT_CONCORD_BIN = ".build/release/concord-bench"

WORKLOADS = ("map", "set")
SECTIONS = ("workloads", "bundles", "store", "verify", "members", "permissions", "school-year", "new-device")
SYSTEMS = ("concord", "baseline", "yrs", "loro", "crdts")
PEER_PACKAGES = {"yrs": "pycrdt", "loro": "loro"}
CRDTS_DIR = HERE / "peers" / "crdts_orswot"
CRDTS_BIN = CRDTS_DIR / "target" / "release" / "crdts-orswot-bench"
# Systems whose stdout says "concord" (same binary format, another build).
REPORTS_AS = {"baseline": "concord"}

# Goals, as ratios of Concord to Loro (see print_goals).
GOAL_IMPORT_X = 2.0  # import at least 2x faster than Loro
GOAL_WRITES_X = 3.0  # local writes at least 3x Loro's batched rate

# Standard metrics: key -> (row label, unit, higher_is_better)
METRICS = {
    "local_writes_per_s": ("local writes/s", "writes/s", True),
    "import_ms": ("import (apply other replica's changes) ms", "ms", False),
    "merge_ms": ("merge both ways (export+import) ms", "ms", False),
    "update_bytes": ("update bytes", "bytes", False),
    "converged": ("converged", "bool", True),
    "peak_rss_mb": ("peak memory MB", "MB", False),
}
REQUIRED = {
    "system": str, "version": str, "workload": str, "writes": int, "keys": int,
    "local_writes_per_s": (int, float), "import_ms": (int, float), "merge_ms": (int, float),
    "update_bytes": int, "converged": bool, "peak_rss_mb": (int, float), "note": str,
}
IDENTITY_KEYS = {"system", "version", "workload", "writes", "keys", "note", "seed", "batch"}


class RunFailure(Exception):
    pass


# --------------------------------------------------------------------------- helpers

def eprint(*args, **kwargs):
    print(*args, file=sys.stderr, **kwargs)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def unit_for(key: str) -> str:
    if key in METRICS:
        return METRICS[key][1]
    for suffix, unit in (("_per_s", "/s"), ("_ms", "ms"), ("_us", "us"), ("_ns", "ns"),
                         ("_s", "s"), ("_bytes", "bytes"), ("_mb", "MB"), ("_kb", "KB")):
        if key.endswith(suffix):
            return unit
    return ""


def higher_is_better(key: str) -> bool:
    if key in METRICS:
        return METRICS[key][2]
    return key.endswith("_per_s")


def fmt_value(v, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        if unit in ("writes/s", "/s") or abs(v) >= 10_000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:,.1f}"
        return f"{v:,.2f}"
    return str(v)


def ratio(concord, other, higher_better: bool):
    """How many times better Concord is than `other` (>1 = Concord better)."""
    if not (is_number(concord) and is_number(other)):
        return None
    num, den = (concord, other) if higher_better else (other, concord)
    if den == 0:
        return None
    return num / den


def fmt_ratio(r) -> str:
    return "-" if r is None else f"{r:.2f}x"


# --------------------------------------------------------------------------- machine

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------- running

def systems_for(workload: str, args) -> list[str]:
    """The systems run on `workload`: crdts only on sets, baseline only when given."""
    out = ["concord"]
    if args.baseline_bin:
        out.append("baseline")
    out += ["yrs", "loro"]
    if workload == "set" and args.crdts:
        out.append("crdts")
    return out


def command_for(system: str, workload: str, args) -> list[str]:
    common = ["--workload", workload, "--writes", str(args.writes), "--keys", str(args.keys),
              "--seed", str(args.seed)]
    if system in ("concord", "baseline"):
        binary = args.concord_bin if system == "concord" else args.baseline_bin
        cmd = [binary] + common
        if args.batch is not None:  # only when asked for: the Concord binary has its own default
            cmd += ["--batch", str(args.batch)]
        return cmd
    if system == "crdts":
        return [str(CRDTS_BIN)] + common
    cmd = [sys.executable, str(PEERS), "--system", system] + common
    if args.batch is not None:
        cmd += ["--batch", str(args.batch)]
    return cmd


def parse_result(stdout: str) -> dict:
    text = stdout.strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        # Tolerate chatter before the object: take the last line that parses.
        obj = None
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                    break
                except json.JSONDecodeError:
                    continue
        if obj is None:
            raise RunFailure("stdout is not a JSON object")
    if not isinstance(obj, dict):
        raise RunFailure("stdout JSON is not an object")
    return obj


def validate(obj: dict, system: str, workload: str, args) -> None:
    problems = []
    for key, typ in REQUIRED.items():
        if key not in obj:
            problems.append(f"missing key {key!r}")
        elif not isinstance(obj[key], typ) or (typ != bool and isinstance(obj[key], bool)):
            problems.append(f"key {key!r} has wrong type {type(obj[key]).__name__}")
    expected = REPORTS_AS.get(system, system)
    if obj.get("system") != expected:
        problems.append(f"system is {obj.get('system')!r}, expected {expected!r}")
    if obj.get("workload") != workload:
        problems.append(f"workload is {obj.get('workload')!r}, expected {workload!r}")
    if obj.get("writes") != args.writes or obj.get("keys") != args.keys:
        problems.append(f"ran writes={obj.get('writes')} keys={obj.get('keys')}, "
                        f"expected writes={args.writes} keys={args.keys}")
    if problems:
        raise RunFailure("; ".join(problems))


def run_one(system: str, workload: str, args) -> dict:
    cmd = command_for(system, workload, args)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise RunFailure(f"timed out after {args.timeout}s\n{err}") from None
    except OSError as e:
        raise RunFailure(f"could not start: {e}") from None
    if proc.returncode != 0:
        raise RunFailure(f"exit status {proc.returncode}\n{proc.stderr.rstrip()}")
    try:
        obj = parse_result(proc.stdout)
        validate(obj, system, workload, args)
    except RunFailure as e:
        raise RunFailure(f"{e}\n--- stdout ---\n{proc.stdout.rstrip()}\n"
                         f"--- stderr ---\n{proc.stderr.rstrip()}") from None
    return obj


def summarize(runs: list[dict]) -> dict:
    """Median of every numeric key over the runs; converged = all runs converged."""
    if not runs:
        return {}
    out = {"runs": len(runs), "version": runs[-1].get("version"), "note": runs[-1].get("note")}
    keys = []
    for r in runs:
        for k, v in r.items():
            if k not in keys and k not in IDENTITY_KEYS and (is_number(v) or isinstance(v, bool)):
                keys.append(k)
    for k in keys:
        vals = [r[k] for r in runs if k in r]
        if all(isinstance(v, bool) for v in vals):
            out[k] = all(vals) and len(vals) == len(runs)
        else:
            nums = [v for v in vals if is_number(v)]
            if nums:
                med = statistics.median(nums)
                if all(isinstance(v, int) for v in nums) and float(med).is_integer():
                    med = int(med)
                out[k] = med
                out.setdefault("_spread", {})[k] = (min(nums), max(nums))
    return out


# --------------------------------------------------------------------------- report

def metric_keys(summary_by_system: dict) -> tuple[list[str], list[str]]:
    extras = []
    for s in SYSTEMS:
        for k, v in summary_by_system.get(s, {}).items():
            if k in METRICS or k in ("runs", "version", "note", "_spread") or k in extras:
                continue
            if is_number(v) or isinstance(v, bool):
                extras.append(k)
    return list(METRICS), extras


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first] + rest).rstrip()
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def workload_table(workload: str, summaries: dict) -> str:
    std, extras = metric_keys(summaries)
    present = [s for s in SYSTEMS if s in summaries]
    others = [s for s in present if s != "concord"]
    headers = ["metric (median)"] + present + [f"concord vs {o}" for o in others]
    rows, marks = [], {}  # marks: tuple of systems reporting an extra metric -> footnote mark
    for key in std + extras:
        if key in METRICS:
            label, unit, hib = METRICS[key]
        else:
            unit, hib = unit_for(key), higher_is_better(key)
            have = tuple(s for s in present if key in summaries[s])
            mark = marks.setdefault(have, "*" * (len(marks) + 1))
            label = f"{key} ({unit}){mark}" if unit else f"{key}{mark}"
        cells = [label] + [fmt_value(summaries[s].get(key), unit) for s in present]
        c = summaries.get("concord", {}).get(key)
        if key == "converged":
            cells += [""] * len(others)
        else:
            cells += [fmt_ratio(ratio(c, summaries.get(o, {}).get(key), hib)) for o in others]
        rows.append(cells)
    out = [f"== workload: {workload} ==",
           "ratios = how many times better Concord is (>1 = Concord better): "
           "writes/s = concord/other; times, bytes, memory = other/concord",
           render_table(headers, rows)]
    runs = ", ".join(f"{s} {summaries[s]['runs']}" for s in present)
    out.append(f"runs per system: {runs}")
    for metric, label, fmt in (("import_ms", "import ms", "{:.2f}"), ("local_writes_per_s", "local writes/s", "{:,.0f}")):
        spreads = [f"{s} {fmt.format(sp[0])}-{fmt.format(sp[1])}" for s in present
                   if (sp := summaries[s].get("_spread", {}).get(metric)) and summaries[s]["runs"] > 1]
        if spreads:
            out.append(f"{label} min-max: " + ", ".join(spreads))
    for have, mark in marks.items():
        out.append(f"{mark} extra metric, reported only by: {', '.join(have)}")
    for s in present:
        note = summaries[s].get("note")
        if note:
            out.append(f"note [{s} {summaries[s].get('version')}]: {note}")
    return "\n".join(out)


def goal_results(summaries_by_workload: dict) -> dict:
    res = {}
    for w, summ in summaries_by_workload.items():
        c, l = summ.get("concord", {}), summ.get("loro", {})
        imp = ratio(c.get("import_ms"), l.get("import_ms"), False)
        wr = ratio(c.get("local_writes_per_s"), l.get("local_writes_per_s"), True)
        res[w] = (imp, wr)
    return res


def goals_text(summaries_by_workload: dict) -> str:
    lines = [f"Goals: import >= {GOAL_IMPORT_X:g}x faster than Loro; "
             f"local writes >= {GOAL_WRITES_X:g}x Loro's batched rate"]
    for w, (imp, wr) in goal_results(summaries_by_workload).items():
        def verdict(r, goal):
            return "n/a" if r is None else ("PASS" if r >= goal else "MISS")
        lines.append(f"  {w}: import {fmt_ratio(imp)} -> {verdict(imp, GOAL_IMPORT_X)}; "
                     f"local writes {fmt_ratio(wr)} -> {verdict(wr, GOAL_WRITES_X)}")
        c, anchor = summaries_by_workload[w].get("concord", {}), summaries_by_workload[w].get("crdts")
        if anchor:
            lines.append(f"  {w}: native anchor (Rust crdts ORSWOT): Concord import "
                         f"{fmt_ratio(ratio(c.get('import_ms'), anchor.get('import_ms'), False))}, "
                         f"local writes {fmt_ratio(ratio(c.get('local_writes_per_s'), anchor.get('local_writes_per_s'), True))} "
                         f"(reported, no goal)")
    return "\n".join(lines)


def built_at(path: str) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(Path(path).stat().st_mtime))
    except OSError:
        return "?"


def header_text(args) -> str:
    cmdline = shlex.join(getattr(sys, "orig_argv", [sys.executable] + sys.argv))
    concord = Path(args.concord_bin)
    try:
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(concord.stat().st_mtime))
    except OSError:
        built = "?"
    return "\n".join([
        "Concord benchmark: Concord vs Yrs (pycrdt) vs Loro (and the Rust crdts ORSWOT on sets)",
        f"command:  {cmdline}  (cwd {os.getcwd()})",
        f"machine:  {nproc()} CPUs, {cpu_model()}; {platform.platform()}",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"packages: pycrdt {package_version('pycrdt')}, loro {package_version('loro')}",
        f"concord:  {args.concord_bin} (built {built})",
        *([f"baseline: {args.baseline_bin} (built {built_at(args.baseline_bin)}), reported as 'baseline'"]
          if args.baseline_bin else []),
        f"crdts:    {args.crdts_status}",
        f"workload: writes={args.writes:,} per replica, keys={args.keys:,}, seed={args.seed}, "
        f"batch={args.batch if args.batch is not None else 'default (1000)'}, "
        f"runs={args.runs} (fresh process each; medians reported)",
        "caveat:   yrs/loro are driven through their Python bindings: local writes/s includes "
        "per-call Python->Rust overhead; import/export are single calls",
    ])


def json_lines(summaries_by_workload: dict) -> list[str]:
    lines = []
    for w, summ in summaries_by_workload.items():
        for s in SYSTEMS:
            if s not in summ:
                continue
            std, extras = metric_keys({s: summ[s]})
            for key in std + extras:
                if key not in summ[s]:
                    continue
                lines.append(json.dumps({"workload": w, "system": s, "metric": key,
                                         "value": summ[s][key], "unit": unit_for(key)}))
    return lines


# --------------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description="Concord vs Yrs vs Loro benchmark (make bench).")
    p.add_argument("--json", action="store_true",
                   help="print only JSON lines (one per workload/system/metric median) on stdout; "
                        "the table goes to stderr")
    p.add_argument("--runs", type=int, help="runs per workload and system (default 5)")
    p.add_argument("--writes", type=int, help="writes per replica (default 100000)")
    p.add_argument("--keys", type=int, help="distinct keys / elements (default 10000)")
    p.add_argument("--seed", type=int, default=42, help="RNG seed, same for every run (default 42)")
    p.add_argument("--batch", type=int, default=None,
                   help="writes per transaction/commit (default: each side's default, 1000)")
    p.add_argument("--concord-bin", default=DEFAULT_CONCORD_BIN,
                   help=f"Concord benchmark binary (default {DEFAULT_CONCORD_BIN})")
    p.add_argument("--baseline-bin", default=None,
                   help="a second Concord benchmark binary (e.g. built before a change), run in "
                        "the same run and reported as 'baseline'")
    p.add_argument("--no-crdts", dest="crdts", action="store_false",
                   help="skip the Rust crdts ORSWOT anchor on the set workload")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: writes=10000 keys=1000 runs=1, store section at 100k ops only (explicit flags still win)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of: map,set")
    p.add_argument("--timeout", type=float, default=900, help="seconds per run (default 900)")
    p.add_argument("--no-bundles", action="store_true", help="skip the change-bundle section")
    p.add_argument("--no-store", action="store_true", help="skip the persisted-store section")
    p.add_argument("--no-verify", action="store_true", help="skip the verification section")
    p.add_argument("--only", default=None,
                   help=f"comma-separated sections to run, of: {','.join(SECTIONS)} (default all)")
    p.add_argument("--store-runs", type=int, default=None,
                   help="runs of the store section (default: --runs, at most 3; each full-size run takes ~2-3 min)")
    p.add_argument("--store-dir", default=None,
                   help="directory for the store section's temporary databases (default: the system "
                        "temporary directory; it should be on a real disk, not tmpfs)")
    args = p.parse_args(argv)
    quick = {"writes": 10_000, "keys": 1_000, "runs": 1}
    full = {"writes": 100_000, "keys": 10_000, "runs": 5}
    for k in quick:
        if getattr(args, k) is None:
            setattr(args, k, (quick if args.quick else full)[k])
    for k in ("runs", "writes", "keys"):
        if getattr(args, k) < 1:
            p.error(f"--{k} must be >= 1")
    if args.store_runs is None:
        args.store_runs = min(args.runs, 3)
    elif args.store_runs < 1:
        p.error("--store-runs must be >= 1")
    if args.batch is not None and args.batch < 1:
        p.error("--batch must be >= 1")
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad or not args.workloads:
        p.error(f"unknown workload(s) {bad}; choose from {','.join(WORKLOADS)}")
    if args.only is None:
        args.sections = [s for s in SECTIONS
                         if not (s == "bundles" and args.no_bundles) and not (s == "store" and args.no_store)
                         and not (s == "verify" and args.no_verify)]
    else:
        args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
        bad = [s for s in args.sections if s not in SECTIONS]
        if bad or not args.sections:
            p.error(f"unknown section(s) {bad}; choose from {','.join(SECTIONS)}")
    return args


def check_setup(args) -> bool:
    ok = True
    binpath = Path(args.concord_bin)
    if not binpath.is_absolute():
        # Relative to the current directory, else to the repo root (the default is repo-relative).
        in_cwd, in_repo = Path.cwd() / binpath, REPO / binpath
        binpath = in_cwd if in_cwd.exists() or not in_repo.exists() else in_repo
    if not (binpath.is_file() and os.access(binpath, os.X_OK)):
        eprint(f"error: Concord benchmark binary not found or not executable: {args.concord_bin}\n"
               f"  Run `make bench` (it builds it with `swift build -c release --product concord-bench`),\n"
               f"  or pass --concord-bin PATH.")
        ok = False
    else:
        args.concord_bin = str(binpath)
    if args.baseline_bin:
        base = Path(args.baseline_bin)
        if not (base.is_file() and os.access(base, os.X_OK)):
            eprint(f"error: --baseline-bin {args.baseline_bin} is not an executable file")
            ok = False
        else:
            args.baseline_bin = str(base.resolve())
    args.crdts_status = "skipped (--no-crdts)" if not args.crdts else "not run (no set workload)"
    if args.crdts and "workloads" in args.sections and "set" in args.workloads:
        args.crdts, args.crdts_status = build_crdts(args.timeout)
        if not args.crdts:
            eprint(f"warning: the Rust crdts anchor is left out of this run: {args.crdts_status}")
    needs_peers = "workloads" in args.sections or "bundles" in args.sections or "school-year" in args.sections
    missing = [pkg for pkg in PEER_PACKAGES.values() if needs_peers and importlib.util.find_spec(pkg) is None]
    if missing:
        eprint(f"error: Python package(s) not importable by {sys.executable}: {', '.join(missing)}\n"
               f"  Install them with:\n"
               f"    pip install pycrdt loro\n"
               f"  (for this interpreter: {shlex.quote(sys.executable)} -m pip install pycrdt loro)")
        ok = False
    return ok


def build_crdts(timeout: float) -> tuple[bool, str]:
    """Builds Benchmarks/peers/crdts_orswot offline; (built, what to print in the header)."""
    cargo = shutil.which("cargo") or next((str(p) for p in (Path.home() / ".cargo" / "bin" / "cargo",)
                                           if p.is_file()), None)
    if cargo is None:
        return False, ("not run: cargo is not installed (apt-get install cargo librust-crdts-dev "
                       "librust-bincode-dev)")
    cmd = [cargo, "build", "--release", "--offline", "--quiet",
           "--manifest-path", str(CRDTS_DIR / "Cargo.toml")]
    try:
        # cwd: cargo reads the crate's .cargo/config.toml (the Debian registry) from there.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=CRDTS_DIR)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"not run: {shlex.join(cmd)} failed: {e}"
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return False, (f"not run: {shlex.join(cmd)} exited {proc.returncode} ({tail}); it needs "
                       f"the Debian packages librust-crdts-dev and librust-bincode-dev")
    try:
        version = subprocess.run([str(CRDTS_BIN), "--workload", "set", "--writes", "1", "--keys", "1"],
                                 capture_output=True, text=True, timeout=60)
        version = json.loads(version.stdout).get("version", "?")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        version = "?"
    return True, f"Rust crdts {version} Orswot, native ({CRDTS_BIN.relative_to(REPO)}, built with {shlex.join(cmd[1:5])})"


def digest_check(workload: str, runs: dict) -> str | None:
    """On sets, Concord's and crdts's plan and members digests must agree in every run."""
    seen = {}
    for s in ("concord", "baseline", "crdts"):
        for r in runs.get(s, []):
            if "plan_digest" in r:
                seen.setdefault((r["plan_digest"], r.get("members_digest"), r.get("members")), []).append(s)
    if len(seen) > 1:
        return (f"[{workload}] systems did not run the same draws to the same members: "
                + "; ".join(f"{sorted(set(v))}: plan {k[0]}, members {k[2]} digest {k[1]}" for k, v in seen.items()))
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    report = sys.stderr if args.json else sys.stdout
    if not check_setup(args):
        return 2

    print(header_text(args), file=report, flush=True)
    workloads = args.workloads if "workloads" in args.sections else []
    results: dict[str, dict[str, list[dict]]] = {w: {s: [] for s in SYSTEMS} for w in workloads}
    failures: list[str] = []
    failed: set[tuple[str, str]] = set()
    for w in workloads:
        for i in range(args.runs):
            for s in systems_for(w, args):  # interleave systems so drift affects all alike
                if (w, s) in failed:
                    continue
                eprint(f"  [{w}] run {i + 1}/{args.runs} {s} ...", end="", flush=True)
                t0 = time.perf_counter()
                try:
                    results[w][s].append(run_one(s, w, args))
                    eprint(f" ok ({time.perf_counter() - t0:.1f}s)")
                except RunFailure as e:
                    eprint(" FAILED")
                    failed.add((w, s))  # skip its remaining runs
                    failures.append(f"[{w}] {s} run {i + 1} failed: "
                                    f"{shlex.join(command_for(s, w, args))}\n{e}")

    for w in workloads:
        problem = digest_check(w, results[w])
        if problem:
            failures.append(problem)
    summaries = {w: {s: summarize(r) for s, r in by_sys.items() if r}
                 for w, by_sys in results.items()}
    for w in workloads:
        print("", file=report)
        print(workload_table(w, summaries[w]), file=report)
    if workloads:
        print("", file=report)
        print(goals_text(summaries), file=report)
    if args.json:
        for line in json_lines(summaries):
            print(line)
    sys.stdout.flush()

    sys.path.insert(0, str(HERE))

    def section(name, banner, run, errors=(RuntimeError, subprocess.TimeoutExpired, KeyError)):
        """Runs one section, adding its table to the report (and its JSON lines with --json)."""
        if name not in args.sections:
            return
        if banner:
            eprint(f"  [{name}] {banner} ...")
        try:
            text, lines, _ = run()
            print("", file=report)
            print(text, file=report)
            if args.json:
                for line in lines:
                    print(line)
        except errors as e:
            failures.append(f"[{name}] failed: {e!r}")
        sys.stdout.flush()

    from bundles import run_bundles
    from store import run_store
    from verify import run_verify
    from members import run_members
    from permissions import run_permissions
    from school_year import run_school_year
    from new_device import run_new_device
    section("bundles", "concord-bench --suite bundles and yrs update sizes",
            lambda: run_bundles(args.concord_bin, args.writes, args.keys, args.seed, args.timeout),
            errors=(RuntimeError, subprocess.TimeoutExpired))
    section("store", None,
            lambda: run_store(args.concord_bin, args.seed, args.store_runs, args.quick, args.timeout, args.store_dir))
    # --quick: a smaller class (10 learners x 5 answers), same shape.
    verify_size = {"learners": 10, "answers": 5} if args.quick else {}
    section("verify", f"concord-bench --suite verify, {args.runs} run(s)",
            lambda: run_verify(args.concord_bin, args.seed, args.runs, args.timeout, args.store_dir, **verify_size))
    # --quick: 100 members and 20 bundles, same shape.
    members_size = {"members": 100, "bundles": 20} if args.quick else {}
    section("members", "concord-bench --suite members (1,000 members: import overhead, rotation)",
            lambda: run_members(args.concord_bin, args.seed, args.runs, args.timeout, args.store_dir, **members_size))
    # --quick: the quick map workload (--writes/--keys) in 20 bundles.
    permissions_size = {"bundles": 20} if args.quick else {}
    section("permissions", "concord-bench --suite permissions (a 20-rule policy's merge cost on the map workload)",
            lambda: run_permissions(args.concord_bin, args.seed, args.runs, args.timeout, args.store_dir,
                                    writes=args.writes, keys=args.keys, **permissions_size))
    # --quick: 8 students for 20 days, same shape (the silent devices, the join and the
    # removal scale with the year).
    school_size = {"days": 20, "students": 8, "ops": 30} if args.quick else {}
    section("school-year", "concord-bench --suite school-year, collection on (with compaction), prune-only and off, then Yrs and Loro on its trace",
            lambda: run_school_year(args.concord_bin, args.seed, max(args.timeout, 3600), args.store_dir, **school_size))
    # --quick: 50k operations over 5k records, a tail of 500 bundles, same shape.
    new_device_size = {"ops": 50_000, "records": 5_000, "tail": 500} if args.quick else {}
    section("new-device", "concord-bench --suite new-device (snapshot + tail vs the whole log, relay on loopback)",
            lambda: run_new_device(args.concord_bin, args.seed, args.runs, max(args.timeout, 3600), args.store_dir,
                                   **new_device_size))

    if failures:
        eprint("")
        for f in failures:
            eprint("error: " + f)
        eprint(f"error: {len(failures)} system/workload combination(s) failed; medians above "
               f"exclude them.")
        return 1
    not_converged = [f"{w}/{s}" for w, by in summaries.items() for s, sm in by.items()
                     if sm.get("converged") is False]
    if not_converged:
        eprint(f"warning: did not converge in every run: {', '.join(not_converged)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
