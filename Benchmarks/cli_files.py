#!/usr/bin/env python3
"""The `concord` binary on large inputs (issue 12.3 and 12.6): time and peak memory.

    python3 Benchmarks/cli_files.py [--concord-bin PATH] [--fields 1000,2000,4000,8000]
                                    [--zeros-mb 200] [--huge-gb 3] [--skip-huge]

Rows (each a fresh `concord` process, peak memory from wait4's ru_maxrss):

  put N fields     `concord put todos ID f0=0 ... f{N-1}=N-1` on a fresh store: seconds.
                   Linear in N means the seconds per 1,000 fields stay flat.
  import zeros     `concord import` of a file of N MB of zeros: rejected by its magic.
  import damaged   `concord import` of N MB: a valid bundle-file header, then zeros:
                   rejected by its checksum after one streamed pass.
  sync-folder huge `concord sync-folder` of a folder with N GB of such a file and one
                   valid file: the valid one is imported, the huge one rejected.

Files of zeros are sparse (no disk used). Prints a table; the machine and build are
whatever you run it on (a debug build is several times slower than `-c release`).
Python 3.11 stdlib only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def run(argv):
    """Runs argv; returns (seconds, peak RSS in MiB, exit status, stdout, stderr)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        rss = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / (1 << 20)
        return seconds, rss, code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def sparse(path, size, prefix=b""):
    with open(path, "wb") as f:
        f.write(prefix)
        f.truncate(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concord-bin", default=None)
    parser.add_argument("--fields", default="1000,2000,4000,8000")
    parser.add_argument("--zeros-mb", type=int, default=200)
    parser.add_argument("--huge-gb", type=float, default=3)
    parser.add_argument("--skip-huge", action="store_true")
    args = parser.parse_args()
    # The tool's executable target is ConcordCLI (not a product; `make cli` links it as concord).
    binary = args.concord_bin or shutil.which("concord") or os.path.join(os.path.dirname(__file__), "..", ".build", "debug", "ConcordCLI")
    if not os.access(binary, os.X_OK):
        print(f"concord binary not found ({binary}); build it or pass --concord-bin", file=sys.stderr)
        return 2

    rows = []
    with tempfile.TemporaryDirectory(prefix="concord-cli-bench-") as scratch:
        for n in [int(x) for x in args.fields.split(",") if x]:
            store = os.path.join(scratch, f"put-{n}")
            subprocess.run([binary, "--store", store, "init", "--plaintext"], check=True, capture_output=True)
            fields = [f"f{i}={i}" for i in range(n)]
            seconds, rss, code, _, err = run([binary, "--store", store, "put", "todos", "00000000-0000-4000-8000-000000000001", *fields])
            if code != 0:
                print(err, file=sys.stderr)
            rows.append((f"put {n} fields", seconds, rss, code, f"{1000 * seconds / n:.2f} s per 1,000 fields"))

        a = os.path.join(scratch, "a")
        b = os.path.join(scratch, "b")
        subprocess.run([binary, "--store", a, "init"], check=True, capture_output=True)
        invite = subprocess.run([binary, "--store", a, "invite"], check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run([binary, "--store", b, "join", invite], check=True, capture_output=True)
        subprocess.run([binary, "--store", a, "put", "todos", "00000000-0000-4000-8000-000000000001", 'title="x"'], check=True, capture_output=True)
        status = json.loads(subprocess.run([binary, "--store", a, "status", "--json"], check=True, capture_output=True, text=True).stdout)
        header = b"CNCF\x01" + bytes.fromhex(status["space"])

        size = args.zeros_mb << 20
        zeros = os.path.join(scratch, "zeros.concord")
        sparse(zeros, size)
        seconds, rss, code, _, _ = run([binary, "--store", b, "import", zeros])
        rows.append((f"import {args.zeros_mb} MB of zeros", seconds, rss, code, "rejected: not a bundle file"))
        damaged = os.path.join(scratch, "damaged.concord")
        sparse(damaged, size, header)
        seconds, rss, code, _, _ = run([binary, "--store", b, "import", damaged])
        rows.append((f"import {args.zeros_mb} MB damaged", seconds, rss, code, "rejected: checksum"))

        if not args.skip_huge:
            folder = os.path.join(scratch, "shared")
            subprocess.run([binary, "--store", a, "sync-folder", folder], check=True, capture_output=True)
            sparse(os.path.join(folder, "huge.concord"), int(args.huge_gb * (1 << 30)), header)
            seconds, rss, code, out, _ = run([binary, "--store", b, "sync-folder", folder])
            applied = "valid file imported" if "applied 1" in out else "valid file NOT imported"
            rows.append((f"sync-folder, {args.huge_gb:g} GB damaged file", seconds, rss, code, applied))

    print(f"{'case':<34} {'seconds':>9} {'peak MiB':>9} {'exit':>5}  note")
    for name, seconds, rss, code, note in rows:
        print(f"{name:<34} {seconds:>9.2f} {rss:>9.1f} {code:>5}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
