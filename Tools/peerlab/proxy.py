#!/usr/bin/env python3
"""A TCP proxy for the peer network tests (Tests/ConcordCLITests/PeerLANTests.swift).

    proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT [--delay-ms N] [--tamper-at BYTE]

--delay-ms N   holds every chunk N milliseconds before forwarding it, in both directions
               (this kernel has no netem qdisc; this is the userspace stand-in for
               `tc qdisc add ... netem delay`). Order is kept; throughput is not limited.
--tamper-at B  flips the lowest bit of byte number B (0-based) of the stream from the
               target back to the client, on every connection: a network attacker that
               alters one byte in transit.

Prints "proxy listening on PORT" once bound; runs until killed.
"""
import argparse
import socket
import sys
import threading
import time
import collections


def pump(source, destination, delay, tamper_at):
    queue = collections.deque()
    condition = threading.Condition()
    done = [False]

    def writer():
        while True:
            with condition:
                while not queue and not done[0]:
                    condition.wait()
                if not queue and done[0]:
                    break
                due, chunk = queue.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                destination.sendall(chunk)
            except OSError:
                break
        try:
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    offset = 0
    while True:
        try:
            chunk = source.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        if tamper_at is not None and offset <= tamper_at < offset + len(chunk):
            mutable = bytearray(chunk)
            mutable[tamper_at - offset] ^= 0x01
            chunk = bytes(mutable)
        offset += len(chunk)
        with condition:
            queue.append((time.monotonic() + delay, chunk))
            condition.notify()
    with condition:
        done[0] = True
        condition.notify()
    thread.join()


def handle(client, target, delay, tamper_at):
    try:
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    forward = threading.Thread(target=pump, args=(client, upstream, delay, None), daemon=True)
    backward = threading.Thread(target=pump, args=(upstream, client, delay, tamper_at), daemon=True)
    forward.start()
    backward.start()
    forward.join()
    backward.join()
    client.close()
    upstream.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("listen_port", type=int)
    parser.add_argument("target_host")
    parser.add_argument("target_port", type=int)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--tamper-at", type=int, default=None)
    args = parser.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", args.listen_port))
    server.listen(64)
    print(f"proxy listening on {server.getsockname()[1]}", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, (args.target_host, args.target_port), args.delay_ms / 1000, args.tamper_at), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
