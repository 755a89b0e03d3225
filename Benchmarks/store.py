"""The persisted-store section of `make bench` (imported by run.py).

Drives `concord-bench --suite store`, one process per measurement, each in a fresh
directory under one temporary directory (on the disk it reports; WAL, synchronous=FULL):

  gen      a peer seals N set operations of the store workload (random fields of N/10
           random records) into bundles of 1,000 ops and writes them to a file,
           length-prefixed (untimed; its own peak memory is reported separately)
  import   a fresh SQLite replica joins the space and imports the file, reading it ten
           bundles (one store transaction) at a time: ops/s and the process's peak RSS;
           then query latencies on the imported store
  raw      plain GRDB upserts of the same rows into a table shaped like Concord's
           `fields` (same key, same secondary index), 10,000 rows per transaction,
           twice: with SQLite's default page cache (2 MB), and with the store's own 8 MiB
           (like for like; the goal is judged against this one, the stricter)
  writes   local writes on a new replica: one set per write {} (each a durable commit),
           and 1,000 sets per write {}

Every measurement runs --runs times, interleaved (import, raw, writes of one round, then
the next round), and medians are reported.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

GOAL_IMPORT_VS_RAW = 0.70   # persisted import ops/s at least 70% of the raw upsert rows/s (issue 18.2)
STORE_CACHE_KIB = 8192      # SQLiteStore's page cache (Specs/storage-schema.md section 2), given to the raw baseline too
GOAL_PEAK_MB = 200          # import process peak RSS at 1M ops
GOAL_PEAK_GROWTH = 1.25     # peak RSS at 1M ops at most 1.25x the peak at 100k ops

QUERIES = [("by_id", "record by id"), ("equality_limit20", "equality (status = s<k>), limit 20"),
           ("range_ordered_limit20", "range (priority >= x) order by priority, limit 20"),
           ("count_all", "count whole collection")]


def _eprint(*a, **k):
    import sys
    print(*a, file=sys.stderr, **k)


def _run(cmd: list[str], timeout: float) -> list[dict]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]


def _filesystem(path: str) -> str:
    """Filesystem type and device of the mount holding `path` (Linux), for the report."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                dev, mount, fstype = line.split()[:3]
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                    best, kind = mount, f"{fstype} on {dev}"
    except OSError:
        pass
    return kind


def _fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else (f"{n // 1000}k" if n % 1000 == 0 else f"{n:,}")


def run_store(concord_bin: str, seed: int, runs: int, quick: bool, timeout: float,
              base_dir: str | None = None) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, goals met)."""
    from run import summarize, render_table, fmt_value

    sizes = [100_000] if quick else [100_000, 1_000_000]
    single_writes, batched_writes = 2_000, (20_000 if quick else 100_000)
    query_rounds = 100  # the ordered range query takes ~0.2 s at 1M ops
    base = tempfile.mkdtemp(prefix="concord-store-bench-", dir=base_dir)
    step = lambda *a: [concord_bin, "--suite", "store", "--seed", str(seed), *map(str, a)]
    try:
        gen = {}
        for n in sizes:
            _eprint(f"  [store] generating {n:,} ops of peer bundles ...", end="", flush=True)
            t0 = time.perf_counter()
            gen[n] = _run(step("--step", "gen", "--ops", n, "--file", f"{base}/bundles-{n}.bin"), timeout)[0]
            _eprint(f" ok ({time.perf_counter() - t0:.1f}s)")

        results: dict[str, list[dict]] = {}
        fresh = iter(range(1_000_000))

        def measure(key: str, *args) -> None:
            d = f"{base}/run-{next(fresh)}"
            try:
                for obj in _run(step(*args, "--dir", d), timeout):
                    results.setdefault(f"{key}/{obj['step']}", []).append(obj)
            finally:
                shutil.rmtree(d, ignore_errors=True)

        for i in range(runs):
            _eprint(f"  [store] run {i + 1}/{runs}:", end="", flush=True)
            t0 = time.perf_counter()
            for n in sizes:  # import and its baseline side by side, so drift hits both alike
                measure(f"import-{n}", "--step", "import", "--file", f"{base}/bundles-{n}.bin", "--queries", query_rounds)
                measure(f"raw-{n}", "--step", "raw", "--ops", n)
                measure(f"rawc-{n}", "--step", "raw", "--ops", n, "--cache-kib", str(STORE_CACHE_KIB))
            measure("writes-single", "--step", "writes", "--mode", "single", "--ops", single_writes)
            measure("writes-batched", "--step", "writes", "--mode", "batched", "--ops", batched_writes)
            _eprint(f" ok ({time.perf_counter() - t0:.1f}s)")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    med = {k: summarize(v) for k, v in results.items()}
    fs = _filesystem(os.path.realpath(base))
    text = [f"== persisted store: Replica on SQLite (WAL, synchronous=FULL, encrypted space), median of {runs} run(s) ==",
            f"command:  {shlex.join(step('--step', 'gen|import|raw|writes', '...'))}  (one process per measurement, "
            f"fresh directory each, under {os.path.dirname(base)}: {fs})",
            "workload: set operations on random fields (10 fields: status 16 values, priority 0..99,999, owner, title, "
            "6 ints) of N/10 random records in one collection, seed " + str(seed)]

    # Local writes.
    s, b = med["writes-single/writes"], med["writes-batched/writes"]
    fsync = f"; 4 KiB write + fdatasync median {s['fsync_median_ms']:.2f} ms" if "fsync_median_ms" in s else ""
    rows = [[f"single: 1 set per write {{}} (durable commit each: fsync-bound{fsync}), {single_writes:,} sets",
             fmt_value(float(s["writes_per_s"]), "/s")],
            [f"batched: 1,000 sets per write {{}}, {batched_writes:,} sets (auto-seal every 10,000 included)",
             fmt_value(float(b["writes_per_s"]), "/s")]]
    text += ["", "local writes on a new on-disk replica", render_table(["mode", "writes/s"], rows)]

    # Import vs raw, and memory.
    rows, lines, met, goals = [], [], True, []
    peaks = {}
    for n in sizes:
        imp, raw, rawc = med[f"import-{n}/import"], med[f"raw-{n}/raw"], med[f"rawc-{n}/raw"]
        r_default = imp["ops_per_s"] / raw["rows_per_s"]
        r = imp["ops_per_s"] / rawc["rows_per_s"]
        peaks[n] = imp["peak_rss_mb"]
        rows.append([_fmt_n(n), f"{imp['bundles']:,}", f"{imp['ops_applied']:,}", fmt_value(float(imp["ops_per_s"]), "/s"),
                     fmt_value(float(raw["rows_per_s"]), "/s"), f"{r_default * 100:.0f}%",
                     fmt_value(float(rawc["rows_per_s"]), "/s"), f"{r * 100:.0f}%", f"{imp['import_s']:.2f}",
                     f"{imp['rss_before_import_mb']:.1f}", f"{imp['peak_rss_mb']:.1f}", f"{gen[n]['gen_peak_rss_mb']:.1f}",
                     f"{imp['db_bytes'] / 1e6:.0f}"])
        ok = r >= GOAL_IMPORT_VS_RAW
        met &= ok
        goals.append(f"  import / raw (same 8 MiB cache) at {_fmt_n(n)} ops: {r * 100:.0f}% -> {'PASS' if ok else 'MISS'}"
                     f"  (against SQLite's default cache: {r_default * 100:.0f}%)")
        lines += [json.dumps({"workload": f"store/import/{n}", "system": "concord", "metric": "ops_per_s", "value": imp["ops_per_s"], "unit": "/s"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "sqlite-raw", "metric": "rows_per_s", "value": raw["rows_per_s"], "unit": "/s"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "sqlite-raw-8mib-cache", "metric": "rows_per_s", "value": rawc["rows_per_s"], "unit": "/s"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "concord", "metric": "import_vs_raw", "value": r, "unit": "fraction"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "concord", "metric": "import_vs_raw_default_cache", "value": r_default, "unit": "fraction"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "concord", "metric": "peak_rss_mb", "value": imp["peak_rss_mb"], "unit": "MB"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "concord", "metric": "rss_before_import_mb", "value": imp["rss_before_import_mb"], "unit": "MB"}),
                  json.dumps({"workload": f"store/gen/{n}", "system": "concord", "metric": "gen_peak_rss_mb", "value": gen[n]["gen_peak_rss_mb"], "unit": "MB"}),
                  json.dumps({"workload": f"store/import/{n}", "system": "concord", "metric": "db_bytes", "value": imp["db_bytes"], "unit": "bytes"})]
    text += ["", "persisted import of a peer's bundles (1,000 ops each) into a fresh replica, vs raw SQLite upserts of the same rows",
             render_table(["ops", "bundles", "ops applied", "import ops/s", "raw rows/s (2 MB)", "import/raw",
                           "raw rows/s (8 MiB)", "import/raw", "import s",
                           "RSS before MB", "peak RSS MB", "gen peak MB", "db MB"], rows),
             "ops applied < ops: writes to the same field inside one bundle are coalesced by the sealer. raw: plain GRDB, "
             "same rows, fields-shaped table + index, 10k rows/tx, only the transactions timed; WAL and synchronous=FULL "
             "read back from the connection; raw (2 MB) keeps SQLite's default page cache, raw (8 MiB) has the store's own "
             "(Specs/storage-schema.md section 2): the like-for-like baseline the goal is judged against.",
             "peak RSS = ru_maxrss of the import process: Swift runtime, replica join, SQLite page cache and the "
             "importer, reading the file 10 bundles at a time; bundle generation ran in its own process (gen peak MB)."]
    if len(sizes) > 1:
        big, small = peaks[sizes[-1]], peaks[sizes[0]]
        ok_abs, ok_growth = big < GOAL_PEAK_MB, big <= small * GOAL_PEAK_GROWTH
        met &= ok_abs and ok_growth
        goals.append(f"  peak RSS at {_fmt_n(sizes[-1])} ops: {big:.1f} MB (< {GOAL_PEAK_MB} MB) -> {'PASS' if ok_abs else 'MISS'}")
        goals.append(f"  peak RSS growth {_fmt_n(sizes[0])} -> {_fmt_n(sizes[-1])}: {small:.1f} -> {big:.1f} MB "
                     f"({big / small:.2f}x, at most {GOAL_PEAK_GROWTH:g}x) -> {'PASS' if ok_growth else 'MISS'}")
    else:
        goals.append(f"  peak RSS at {_fmt_n(sizes[0])} ops: {peaks[sizes[0]]:.1f} MB (the 1M case runs only without --quick)")

    # Queries.
    rows = []
    for name, label in QUERIES:
        cells = [label]
        for n in sizes:
            q = med[f"import-{n}/queries"]
            cells += [f"{q[name + '_median_us']:,.0f}", f"{q[name + '_p99_us']:,.0f}"]
            for stat in ("median", "p99"):
                lines.append(json.dumps({"workload": f"store/query/{n}/{name}", "system": "concord", "metric": f"{stat}_us",
                                         "value": q[f"{name}_{stat}_us"], "unit": "us"}))
        rows.append(cells)
    headers = ["query (Replica API, actor hop included)"] + [h for n in sizes for h in (f"{_fmt_n(n)} median us", f"{_fmt_n(n)} p99 us")]
    visible = ", ".join(f"{_fmt_n(n)}: {med[f'import-{n}/queries']['records_visible']:,}" for n in sizes)
    text += ["", f"query latency on the imported store ({query_rounds} rounds after 10 warm-up; visible records {visible})",
             render_table(headers, rows)]

    if "fsync_median_ms" in s:
        lines.append(json.dumps({"workload": "store/writes/single", "system": "disk", "metric": "fsync_median_ms", "value": s["fsync_median_ms"], "unit": "ms"}))
    lines += [json.dumps({"workload": "store/writes/single", "system": "concord", "metric": "writes_per_s", "value": s["writes_per_s"], "unit": "/s"}),
              json.dumps({"workload": "store/writes/batched", "system": "concord", "metric": "writes_per_s", "value": b["writes_per_s"], "unit": "/s"})]
    text += ["", f"Goals: persisted import >= {GOAL_IMPORT_VS_RAW:.0%} of raw upserts; import peak RSS < {GOAL_PEAK_MB} MB "
                 f"at 1M ops and not growing with the log", *goals]
    return "\n".join(text), lines, met
