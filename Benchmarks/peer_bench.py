#!/usr/bin/env python3
"""Peer sync between two namespaced hosts, beside the relay on the same hosts.

    python3 Benchmarks/peer_bench.py BIN_DIR [--ops 1000000] [--samples 500] [--quick]

BIN_DIR holds release builds of `concord` and `concord-peer-bench`. Needs root (network
namespaces); prints why and exits 0 otherwise. Two hosts, A (10.79.0.1) and B (10.79.0.2),
on one bridge (its own namespace):

  peer path    A runs `concord peer serve`; B runs `concord sync peer://A:7420` from an
               empty store: seconds until B holds every operation.
  relay path   A runs `concord relay serve`; A pushes (`concord sync http://127.0.0.1:8080`),
               then B pulls from an empty store (`concord sync http://A:8080`): seconds of
               both, and of the pull alone.
  live         B listens (SyncEngine), A dials it and writes one record every 20 ms; the
               latency of each write is B's clock when the record appears minus A's stamp
               (one kernel, one clock): p50 and p99.

Goals: the peer path at least as fast as the relay path; live p99 under 50 ms.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LAB = "ccbench%04x" % random.randrange(0x10000)
A, B, SW = LAB + "a", LAB + "b", LAB + "s"


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def setup():
    for ns in (SW, A, B):
        sh("ip", "netns", "add", ns)
    sh("ip", "-n", SW, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", SW, "link", "set", "br0", "up")
    for index, ns in ((1, A), (2, B)):
        port = "p%d" % index
        sh("ip", "link", "add", port, "netns", SW, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", SW, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", "10.79.0.%d/24" % index, "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def teardown(processes):
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
    for ns in (A, B, SW):
        sh("ip", "netns", "del", ns, check=False)


def in_ns(ns, *args):
    return ["ip", "netns", "exec", ns] + list(args)


def wait_line(process, prefix, timeout=30):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.strip()
        seen.append(line.rstrip())
    raise SystemExit("peer bench: %s did not print %r; it printed:\n%s" % (process.args, prefix, "\n".join(seen[-20:])))


def timed(*args):
    start = time.perf_counter()
    result = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit("peer bench: %s failed:\n%s" % (" ".join(args), result.stdout))
    return seconds


def records(concord, store):
    out = sh(concord, "--store", store, "status", "--json").stdout
    import json
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin")
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.ops, args.samples = 20_000, 50
    if os.geteuid() != 0:
        print("peer bench skipped: network namespaces need root (run `make bench` as root, as CI does)")
        return 0
    probe = sh("ip", "netns", "add", LAB + "probe", check=False)
    sh("ip", "netns", "del", LAB + "probe", check=False)
    if probe.returncode != 0:
        print("peer bench skipped: the kernel forbids network namespaces (%s)" % probe.stdout.strip())
        return 0
    # The tool's executable target is ConcordCLI (not a product; `make cli` links it as concord).
    concord = os.path.join(args.bin, "ConcordCLI")
    if not os.access(concord, os.X_OK):
        concord = os.path.join(args.bin, "concord")
    bench = os.path.join(args.bin, "concord-peer-bench")
    work = tempfile.mkdtemp(prefix="concord-peer-bench-")
    processes = []
    try:
        setup()
        print("==> preparing %d operations" % args.ops, flush=True)
        sh(bench, "prepare", work, str(args.ops))
        source = work + "/source"

        # Peer path.
        server = subprocess.Popen(in_ns(A, concord, "--store", source, "peer", "serve", "--port", "7420", "--no-advertise"),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(server)
        wait_line(server, "listening on")
        peer_seconds = timed(*in_ns(B, concord, "--store", work + "/peer-dest", "sync", "peer://10.79.0.1:7420"))
        server.terminate()
        server.wait()

        # Relay path on the same hosts.
        relay = subprocess.Popen(in_ns(A, concord, "relay", "serve", "--host", "0.0.0.0", "--port", "8080", "--open", "--db", "sqlite:" + work + "/relay.sqlite"),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(relay)
        wait_line(relay, "listening on")
        push_seconds = timed(*in_ns(A, concord, "--store", source, "sync", "http://127.0.0.1:8080"))
        pull_seconds = timed(*in_ns(B, concord, "--store", work + "/relay-dest", "sync", "http://10.79.0.1:8080"))
        relay.terminate()
        relay.wait()
        want = records(concord, source)["vector"]
        for name in ("peer-dest", "relay-dest"):
            if records(concord, work + "/" + name)["vector"] != want:
                raise SystemExit("peer bench: %s did not receive every bundle" % name)

        # Live latency.
        listener = subprocess.Popen(in_ns(B, bench, "listen", work + "/live-listener", "7421", str(args.samples)),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(listener)
        wait_line(listener, "listening")
        writer = subprocess.Popen(in_ns(A, bench, "write", work + "/live-writer", "10.79.0.2:7421", str(args.samples), "20"),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(writer)
        latencies = []
        deadline = time.time() + 60 + args.samples * 0.05
        while len(latencies) < args.samples and time.time() < deadline:
            line = listener.stdout.readline()
            if not line:
                break
            if line.startswith("latency "):
                latencies.append(float(line.split()[1]))
        writer.wait(30)
        latencies.sort()
        if not latencies:
            raise SystemExit("peer bench: no live write arrived")
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

        relay_total = push_seconds + pull_seconds
        rows = [
            ("sync %d ops A->B over the peer link" % args.ops, "%.2f s" % peer_seconds, "<= relay path: %s" % ("PASS" if peer_seconds <= relay_total else "MISS")),
            ("  rate", "%.0f ops/s" % (args.ops / peer_seconds), ""),
            ("same through a relay on A (push + pull)", "%.2f s" % relay_total, ""),
            ("  push A->relay", "%.2f s" % push_seconds, ""),
            ("  pull relay->B", "%.2f s" % pull_seconds, ""),
            ("live latency p50 (%d writes, 20 ms apart)" % len(latencies), "%.1f ms" % p50, ""),
            ("live latency p99", "%.1f ms" % p99, "< 50 ms: %s" % ("PASS" if p99 < 50 else "MISS")),
        ]
        widths = [max(len(r[i]) for r in rows + [("metric", "value", "goal")]) for i in range(3)]
        print("\n==> peer sync between two namespaced hosts (%s)" % ("quick" if args.quick else "full"))
        print(" | ".join(h.ljust(w) for h, w in zip(("metric", "value", "goal"), widths)))
        print("-|-".join("-" * w for w in widths))
        for row in rows:
            print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    finally:
        teardown(processes)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
