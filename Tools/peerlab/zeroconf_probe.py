#!/usr/bin/env python3
"""An independent mDNS implementation (python-zeroconf) against Concord's DNS-SD.

    zeroconf_probe.py browse SECONDS     # prints one JSON line per resolved _concord._tcp service
    zeroconf_probe.py register PORT ADDR # registers a _concord._tcp service with an opaque TXT,
                                         # prints "registered NAME", runs until killed

Used by Tests/ConcordCLITests/PeerLANTests.swift inside network namespaces.
"""
import json
import socket
import sys
import time

from zeroconf import ServiceBrowser, ServiceInfo, Zeroconf, IPVersion

SERVICE = "_concord._tcp.local."


def browse(seconds):
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    names = set()

    class Listener:
        def add_service(self, zc, type_, name):
            names.add(name)

        def update_service(self, zc, type_, name):
            names.add(name)

        def remove_service(self, zc, type_, name):
            pass

    ServiceBrowser(zc, SERVICE, Listener())
    time.sleep(seconds)
    for name in sorted(names):
        info = zc.get_service_info(SERVICE, name, timeout=3000)
        if info is None:
            print(json.dumps({"name": name, "resolved": False}), flush=True)
            continue
        print(json.dumps({
            "name": name,
            "resolved": True,
            "port": info.port,
            "server": info.server,
            "addresses": [socket.inet_ntoa(a) for a in info.addresses],
            "txt": {k.decode(): (v or b"").decode() for k, v in info.properties.items()},
        }), flush=True)
    zc.close()


def register(port, address):
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    info = ServiceInfo(SERVICE, "zeroconf-stranger." + SERVICE, port=port, properties={"v": "1", "n": "0011223344556677", "t": "00" * 16},
                       server="zeroconf-stranger.local.", addresses=[socket.inet_aton(address)])
    zc.register_service(info)
    print("registered zeroconf-stranger", flush=True)
    try:
        while True:
            time.sleep(1)
    finally:
        zc.unregister_service(info)
        zc.close()


if __name__ == "__main__":
    if sys.argv[1] == "browse":
        browse(float(sys.argv[2]))
    else:
        register(int(sys.argv[2]), sys.argv[3])
