"""The new-device section of `make bench` (issue 16 item 5, Specs/snapshots.md §7 "New
device ready"): how long a newly joined device takes to be `synced` from the relay's
snapshot and the bundles above it, beside replaying the whole log. Runs `concord-bench
--suite new-device` (the relay server in that process on 127.0.0.1), which prints one JSON
line per run, then the table of medians, the breakdown of the snapshot's path and the goal
(< 2 s at 1M operations), PASS or MISS; this passes the table and the goal through."""
import shlex
import shutil
import subprocess
import tempfile


def run_new_device(concord_bin: str, seed: int, runs: int, timeout: float, base_dir: str | None = None,
                   ops: int = 1_000_000, records: int = 100_000, tail: int = 10_000,
                   devices: int = 4) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, every goal met)."""
    base = tempfile.mkdtemp(prefix="concord-new-device-", dir=base_dir)
    try:
        cmd = [concord_bin, "--suite", "new-device", "--seed", str(seed), "--dir", base, "--ops", str(ops),
               "--records", str(records), "--tail", str(tail), "--devices", str(devices), "--runs", str(max(3, runs))]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    lines = proc.stdout.splitlines()
    json_lines = [line for line in lines if line.strip().startswith("{")]
    text_lines = [line for line in lines if not line.strip().startswith("{")]
    text = (f"New device ready ({ops:,} ops, {records:,} live records, snapshot + {tail:,} bundles vs the whole log)\n"
            + "\n".join(text_lines).strip())
    met = all("MISS" not in line for line in text_lines)
    return text, json_lines, met


if __name__ == "__main__":
    import argparse
    from pathlib import Path
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="The new-device benchmark alone.")
    p.add_argument("--concord-bin", default=str(here.parent / ".build/release/concord-bench"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--ops", type=int, default=1_000_000)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--tail", type=int, default=10_000)
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--dir", default=None)
    p.add_argument("--timeout", type=float, default=7200)
    a = p.parse_args()
    report, _, _ = run_new_device(a.concord_bin, a.seed, a.runs, a.timeout, a.dir, a.ops, a.records, a.tail, a.devices)
    print(report)
