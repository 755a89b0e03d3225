#!/usr/bin/env python3
"""Independent check of Specs/vectors/peer.jsonl (Specs/peer-protocol.md §3.1, §2.2) with
PyNaCl and hashlib only: recomputes the handshake case and the discovery tag from the fixed
inputs and compares every published value. Exit status 1 on any difference."""
import hashlib
import json
import struct
import sys
from pathlib import Path

import nacl.bindings as b
from nacl.signing import SigningKey

ROOT = Path(__file__).resolve().parent.parent
cases = {c["name"]: c for c in map(json.loads, (ROOT / "Specs/vectors/peer.jsonl").read_text().splitlines())}
problems = []


def kdf(master, subkey, context):
    return hashlib.blake2b(b"", digest_size=32, key=master, salt=struct.pack("<Q", subkey) + bytes(8), person=context.encode() + bytes(8)).digest()


def b2(data, key=None, size=32):
    return hashlib.blake2b(data, digest_size=size, key=key or b"").digest()


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def push(key, header, message):
    state = b.crypto_secretstream_xchacha20poly1305_state()
    b.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    return state, b.crypto_secretstream_xchacha20poly1305_push(state, message, None, 0)


def check(name, field, value):
    if cases[name][field] != value.hex():
        problems.append("%s.%s: published %s, computed %s" % (name, field, cases[name][field], value.hex()))


space_key = SigningKey(bytes([5]) * 32)
space_id = bytes(space_key.verify_key)
content = kdf(bytes([5]) * 32, 1, "CCcontnt")
P, D = kdf(content, 1, "CCpeerhs"), kdf(content, 1, "CCdiscov")
dev_i, dev_r = SigningKey(bytes([7]) * 32), SigningKey(bytes([9]) * 32)


def chain(subject):
    body = b"\x01" + space_id + subject + b"\x01" + struct.pack("<Q", 1_700_000_000_000)
    return b"\x01" + body + space_key.sign(body).signature


pk_i, sk_i = b.crypto_kx_seed_keypair(bytes([0x0B]) * 32)
pk_r, sk_r = b.crypto_kx_seed_keypair(bytes([0x0D]) * 32)
hello = b"CNCP\x01" + pk_i
msg1 = hello + b2(hello, P, 16)
h1 = b2(b2(b"concord-peer-v1") + msg1)
h2 = b2(h1 + pk_r)
rx_i, tx_i = b.crypto_kx_client_session_keys(pk_i, sk_i, pk_r)
k_c2s = b2(b"concord-peer-v1 c2s" + h2 + tx_i, P)
k_s2c = b2(b"concord-peer-v1 s2c" + h2 + rx_i, P)
ctx = b"concord-peer-auth-v1\x00"
r_pub, i_pub = bytes(dev_r.verify_key), bytes(dev_i.verify_key)
chain_r, chain_i = chain(r_pub), chain(i_pub)
auth_r = r_pub + varint(len(chain_r)) + chain_r + dev_r.sign(ctx + b"R" + h2 + space_id + r_pub + chain_r).signature
s2c, c2 = push(k_s2c, bytes([0x2C]) * 24, auth_r)
msg2 = pk_r + bytes([0x2C]) * 24 + c2
h3 = b2(h2 + bytes([0x2C]) * 24 + c2)
auth_i = i_pub + varint(len(chain_i)) + chain_i + dev_i.sign(ctx + b"I" + h3 + space_id + i_pub + chain_i).signature
c2s, c3 = push(k_c2s, bytes([0x1C]) * 24, auth_i)
msg3 = bytes([0x1C]) * 24 + c3
h4 = b2(h3 + msg3)
first_i = b"\x01\x01" + i_pub + b"\x01"
for field, value in [
    ("space_id_hex", space_id), ("content_key_hex", content), ("handshake_key_hex", P), ("discovery_key_hex", D),
    ("device_i_hex", i_pub), ("device_r_hex", r_pub), ("chain_i_hex", chain_i), ("chain_r_hex", chain_r),
    ("e_i_hex", pk_i), ("e_r_hex", pk_r), ("msg1_hex", msg1), ("h1_hex", h1), ("h2_hex", h2),
    ("kx_c2s_hex", tx_i), ("kx_s2c_hex", rx_i), ("k_c2s_hex", k_c2s), ("k_s2c_hex", k_s2c),
    ("auth_r_hex", auth_r), ("msg2_hex", msg2), ("h3_hex", h3), ("auth_i_hex", auth_i), ("msg3_hex", msg3), ("h4_hex", h4),
    ("first_c2s_plain_hex", first_i), ("first_c2s_hex", b.crypto_secretstream_xchacha20poly1305_push(c2s, first_i, None, 0)),
    ("first_s2c_plain_hex", b"\x01\x00"), ("first_s2c_hex", b.crypto_secretstream_xchacha20poly1305_push(s2c, b"\x01\x00", None, 0)),
]:
    check("handshake", field, value)
tag = cases["discovery_tag"]
check("discovery_tag", "tag_hex", b2(b"concord-discovery-v1\x00" + struct.pack(">Q", int(tag["window"])) + bytes.fromhex(tag["nonce_hex"]), D, 16))

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("peer.jsonl: handshake and discovery tag agree with PyNaCl/hashlib (%d cases in the file)" % len(cases))
