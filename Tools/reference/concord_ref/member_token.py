"""Invite tokens of format 2 and the history blob of Specs/membership.md (§2, §3, §4),
written from the spec: parsed in the order the spec gives (prefix and base32, checksum,
version, fields)."""
import hashlib

from . import crypto, dev
from .codec import Reject
from .invite import base32_decode, wrong_prefix

PREFIX = "concord2-"
ROLES = {1: "admin", 2: "writer", 3: "reader"}


def key_id(key):
    """BLAKE2b-256("concord-epoch-id-v1" ‖ key)[0..<16] (§2)."""
    return hashlib.blake2b(b"concord-epoch-id-v1" + key, digest_size=32).digest()[:16]


def parse(text):
    """Returns the token's fields; raises Reject."""
    text = text.strip()
    lower = text.lower()
    if not lower.startswith(PREFIX):
        raise wrong_prefix(text, "2")
    data = base32_decode(text[len(PREFIX):])
    if len(data) <= 5:
        raise Reject("invalidInvite", "too short")
    content, checksum = data[:-4], data[-4:]
    if crypto.blake2b256(content)[:4] != checksum and not dev.on("token2-checksum-unchecked"):
        raise Reject("inviteChecksumMismatch", "checksum")
    if content[0] != 2:
        raise Reject("unsupportedVersion", f"invite format {content[0]}")
    if len(content) not in (83, 163):
        raise Reject("invalidInvite", f"{len(data)} bytes")
    flags = content[33]
    if dev.on("token2-flags-as-bool"):
        encrypted = flags != 0
    else:
        if flags > 1:
            raise Reject("invalidInvite", "reserved flag bits")
        encrypted = flags == 1
    if (len(content) == 163) != encrypted and not dev.on("token2-length-unchecked"):
        raise Reject("invalidInvite", "length disagrees with the flags")
    role = ROLES.get(content[66])
    if role is None:
        raise Reject("invalidInvite", f"role {content[66]}")
    token = {
        "space_id": content[1:33], "encrypted": encrypted, "invite_seed": content[34:66],
        "invite_id": crypto.public_key(content[34:66]), "role": role,
        "expires": int.from_bytes(content[67:75], "little"), "invite_stamp": int.from_bytes(content[75:83], "little"),
        "bytes": data,
    }
    if encrypted:
        epoch_id, key = content[83:99], content[99:131]
        if key_id(key) != epoch_id and not dev.on("token2-epoch-id-unchecked"):
            raise Reject("invalidInvite", "the epoch key id does not match the key")
        token["epoch_key_id"], token["epoch_key"] = epoch_id, key
        token["peer_secret"] = content[131:163]
    return token


def open_history(blob, key, kid):
    """The (key id, key) pairs of a history blob (§3), opened with the epoch's key."""
    if not blob:
        return []
    if (len(blob) < 24 + 16 + 48 or (len(blob) - 40) % 48) and not dev.on("history-any-length"):
        raise Reject("malformedBundle", f"a history blob of {len(blob)} bytes")
    plain = crypto.open_box(key, blob, kid)
    if plain is None:
        raise Reject("decryptionFailed", "the history blob does not open with this key")
    entries = [(plain[i:i + 16], plain[i + 16:i + 48]) for i in range(0, len(plain), 48)]
    seen = set()
    for entry_id, entry_key in entries:
        if key_id(entry_key) != entry_id and not dev.on("history-entry-id-unchecked"):
            raise Reject("malformedBundle", "an entry's key id does not match its key")
        if entry_key in seen:
            raise Reject("malformedBundle", "a key repeated")
        seen.add(entry_key)
    return entries
