"""Invite tokens, format 1 (Specs/wire-format.md section 7.4), parsed in the order the
spec gives. Issue 13 replaces them; kept small on purpose."""
from . import crypto, dev
from .codec import Reject

PREFIX = "concord1-"
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def parse(text):
    """Returns {"kind", "space_id", "encrypted", "bytes"}; raises Reject."""
    if not dev.on("invite-whitespace-kept"):
        text = text.strip()
    head = text[:len(PREFIX)]
    if dev.on("invite-prefix-case-sensitive"):
        matches = head == PREFIX
    else:
        matches = head.lower() == PREFIX
    if len(text) < len(PREFIX) or not matches:
        raise wrong_prefix(text, "1")
    data = base32_decode(text[len(PREFIX):])
    if len(data) <= 2 + 4:
        raise Reject("invalidInvite", "too short")
    content, checksum = data[:-4], data[-4:]
    if crypto.blake2b256(content)[:4] != checksum and not dev.on("invite-checksum-unchecked"):
        raise Reject("inviteChecksumMismatch", "checksum")
    if content[0] != 1:
        raise Reject("unsupportedVersion", f"invite format {content[0]}")
    kind = {1: "writer", 2: "reader"}.get(content[1])
    if kind is None or len(content) < 35 or content[34] > 1:
        raise Reject("invalidInvite", "kind, length or flags")
    space_id, encrypted, secrets = content[2:34], content[34] == 1, content[35:]
    if kind == "writer":
        if len(secrets) != 32 or crypto.public_key(secrets) != space_id:
            raise Reject("invalidInvite", "writer secret")
    else:
        expected = (32 if encrypted else 0) + 32 + 8 + 64
        if len(secrets) != expected:
            raise Reject("invalidInvite", "reader secret length")
        rest = secrets[32:] if encrypted else secrets
        issuer = crypto.public_key(rest[:32])
        signed = bytes([1]) + space_id + issuer + bytes([3]) + rest[32:40]
        if not crypto.verifies(space_id, signed, rest[40:]):
            raise Reject("invalidInvite", "reader-issuer certificate")
    return {"kind": kind, "space_id": space_id, "encrypted": encrypted, "bytes": data}


def wrong_prefix(text, version):
    """The error for a token without this format's prefix: `unsupportedVersion` for a
    `concord<N>-` token of another format N, else `invalidInvite`."""
    lower = text.lower()
    dash = lower.find("-")
    digits = lower[7:dash] if lower.startswith("concord") and dash >= 7 else ""
    if digits and digits.isdigit() and digits != version:
        return Reject("unsupportedVersion", f"a {lower[:dash]} token")
    return Reject("invalidInvite", "wrong prefix")


def base32_decode(body):
    """RFC 4648 base32 without padding, either case; a length that leaves 1, 3 or 6
    characters in the last group of 8 cannot come from whole bytes; trailing bits are 0."""
    bits, buffer, out = 0, 0, bytearray()
    for i, ch in enumerate(body):
        low = ch if dev.on("invite-body-lowercase-only") else ch.lower()
        if low not in ALPHABET or not ch.isascii():
            raise Reject("invalidInvite", f"character {ch!r} at position {len(PREFIX) + i + 1}")
        buffer = (buffer << 5 | ALPHABET.index(low)) & 0xFFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((buffer >> bits) & 0xFF)
    if len(body) % 8 in (1, 3, 6) and not dev.on("invite-any-length"):
        raise Reject("invalidInvite", "length")
    if buffer & ((1 << bits) - 1) and not dev.on("invite-trailing-bits-unchecked"):
        raise Reject("invalidInvite", "non-zero trailing bits")
    return bytes(out)

