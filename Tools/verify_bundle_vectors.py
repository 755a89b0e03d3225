#!/usr/bin/env python3
"""Checks Specs/vectors/bundles.jsonl with an implementation independent of Concord.

    python3 Tools/verify_bundle_vectors.py [path/to/bundles.jsonl]

Uses PyNaCl (libsodium's Ed25519 and XChaCha20-Poly1305) and hashlib's BLAKE2b only;
nothing of Concord's Swift code. For every valid case it checks, from the bytes alone:

- bundle_hex == signed_bytes_hex + signature_hex, and the signature is 64 bytes;
- the Ed25519 signature over signed_bytes_hex verifies with author_public_key_hex;
- bundle_id_hex == BLAKE2b-256(signed bytes) (unkeyed, 32-byte digest);
- the header (Specs/wire-format.md, section 7.2): magic, version, encryption flag, space id
  = the Ed25519 public key of space_seed_hex, author, sequence; every certificate of the
  chain verifies (the root with the space id, a second one with the root's subject) and
  the leaf names the author;
- the payload is plaintext_hex (plaintext space) or decrypts to it with the content key
  derived from space_seed_hex, the header as associated data (encrypted space);
- plaintext_hex is a causal context (section 7.5: count <= 4096, authors strictly
  ascending by bytes, none the bundle's author, sequences >= 1, minimal varints) equal to
  `context`, followed by exactly batch_hex.

For every invalidSignature case (flipped signature, payload or header bits) it checks
that Ed25519 verification of the last 64 bytes over the rest FAILS against the author key
of the valid case named by derived_from. For every malformedBundle case whose name starts
with "context_" or "encrypted_context_", it checks that the bundle is well formed up to
its payload, that the payload decrypts (encrypted space), and that the causal context
breaks a rule of section 7.5. The other invalid cases need a full importer;
Tests/ConformanceTests/BundleVectorTests.swift runs them.

Prints "bundle vectors checked with PyNaCl: N ok, M wrong"; exits 1 on any failure, 2 without PyNaCl.
"""
import hashlib
import json
import pathlib
import sys

try:
    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
    from nacl.exceptions import BadSignatureError, CryptoError
    from nacl.signing import SigningKey, VerifyKey
except ImportError:
    print("PyNaCl is not installed. Install it with:\n    python3 -m pip install pynacl", file=sys.stderr)
    sys.exit(2)

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent.parent / "Specs" / "vectors" / "bundles.jsonl"
BUNDLE_FORMAT = 2
MAX_CONTEXT_AUTHORS = 4096
CERTIFICATE_BYTES = 138
CERTIFICATE_SIGNED_BYTES = 74
ERROR_CODES = {
    "bundleTooLarge", "malformedBundle", "unsupportedVersion", "wrongSpace", "invalidSignature",
    "invalidCertificate", "notAWriter", "authorMismatch", "clockDriftExceeded", "clockFailure",
    "decryptionFailed", "encryptionMismatch", "emptyBundle", "chainMismatch", "tooManyHeldBundles", "chainNotMonotone",
}
OUTCOMES = {"applied", "duplicate", "held", "fork"}


class Mismatch(Exception):
    pass


def require(condition, message):
    if not condition:
        raise Mismatch(message)


def content_key(seed):
    """crypto_kdf_derive_from_key(32, subkey 1, "CCcontnt", seed), written with hashlib."""
    salt = (1).to_bytes(8, "little") + bytes(8)
    return hashlib.blake2b(b"", digest_size=32, key=seed, salt=salt, person=b"CCcontnt" + bytes(8)).digest()


def verifies(public_key, message, signature):
    try:
        VerifyKey(public_key).verify(message, signature)
        return True
    except BadSignatureError:
        return False


class Reader:
    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, n):
        require(self.offset + n <= len(self.data), f"truncated at offset {self.offset}")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def varint(self):
        """Unsigned LEB128, at most 10 bytes, below 2^64, minimal (section 1)."""
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                require(byte != 0 or shift == 0, f"non-minimal varint ending at offset {self.offset}")
                require(value < 1 << 64, "varint over 64 bits")
                return value
            shift += 7
            require(shift < 70, "varint too long")


def parse_context(plaintext, author):
    """Section 7.5: the causal context at the start of the payload plaintext.

    Returns ([(author hex, seq)], the operation batch after it); raises Mismatch when a
    rule is broken."""
    r = Reader(plaintext)
    count = r.varint()
    require(count <= MAX_CONTEXT_AUTHORS, f"causal context of {count} authors, more than {MAX_CONTEXT_AUTHORS}")
    entries, previous = [], None
    for _ in range(count):
        name = r.take(32)
        require(previous is None or previous < name, "causal context authors not strictly ascending by bytes")
        require(name != author, "causal context names the bundle's author")
        seq = r.varint()
        require(seq >= 1, "causal context sequence 0")
        entries.append((name.hex(), seq))
        previous = name
    return entries, plaintext[r.offset:]


def parse_bundle(case, signed):
    """Section 7.2, for a case's signed bytes: checks magic, version, flags, space id and
    the certificate chain (every certificate verifies, the leaf names the author); returns
    (author, sequence, header, payload)."""
    seed = bytes.fromhex(case["space_seed_hex"])
    space_id = bytes(SigningKey(seed).verify_key)
    r = Reader(signed)
    require(r.take(4) == b"CNCB", "magic")
    require(r.take(1)[0] == BUNDLE_FORMAT, "version")
    flags = r.take(1)[0]
    require(flags == (1 if case["encrypted"] else 0), "encryption flag does not match the space")
    require(r.take(32) == space_id, "space id is not the public key of space_seed_hex")
    author = r.take(32)
    sequence = r.varint()
    r.take(32 + 8 + 8)  # previous, hlc min, hlc max
    chain = Reader(r.take(r.varint()))
    count = chain.take(1)[0]
    require(count in (1, 2) and len(chain.data) == 1 + count * CERTIFICATE_BYTES, "certificate chain shape")
    issuer = space_id
    for _ in range(count):
        certificate = chain.take(CERTIFICATE_BYTES)
        require(certificate[1:33] == space_id, "certificate names another space")
        require(verifies(issuer, certificate[:CERTIFICATE_SIGNED_BYTES], certificate[CERTIFICATE_SIGNED_BYTES:]),
                "certificate signature does not verify")
        subject = certificate[33:65]
        issuer = subject
    require(subject == author, "the certificate's subject is not the author")
    header = signed[:r.offset]
    payload = r.take(r.varint())
    require(r.offset == len(signed), "bytes after the payload")
    return author, sequence, header, payload


def open_payload(case, header, payload):
    """The payload plaintext: the payload itself, or its decryption (section 7.5)."""
    if not case["encrypted"]:
        return payload
    seed = bytes.fromhex(case["space_seed_hex"])
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(payload[24:], header, payload[:24], content_key(seed))
    except CryptoError:
        raise Mismatch("payload does not decrypt with the content key and the header as associated data")


def check_valid(case):
    bundle = bytes.fromhex(case["bundle_hex"])
    signed = bytes.fromhex(case["signed_bytes_hex"])
    signature = bytes.fromhex(case["signature_hex"])
    author = bytes.fromhex(case["author_public_key_hex"])
    require(len(signature) == 64, "signature is not 64 bytes")
    require(bundle == signed + signature, "bundle_hex != signed_bytes_hex + signature_hex")
    require(verifies(author, signed, signature), "Ed25519 signature does not verify over signed_bytes_hex")
    require(hashlib.blake2b(signed, digest_size=32).hexdigest() == case["bundle_id_hex"], "bundle id != BLAKE2b-256(signed bytes)")
    if case["outcome"] == "applied":
        require(case["applied_ids_hex"][0] == case["bundle_id_hex"], "applied_ids_hex does not start with the bundle id")

    parsed_author, sequence, header, payload = parse_bundle(case, signed)
    require(parsed_author == author, "author field != author_public_key_hex")
    require(sequence == case["sequence"], "sequence")
    if "plaintext_hex" not in case:
        # A fork or duplicate whose payload does not open: decided before the payload is.
        require(case["outcome"] in ("fork", "duplicate"), "payload keys missing")
        return
    plaintext = open_payload(case, header, payload)
    require(plaintext == bytes.fromhex(case["plaintext_hex"]), "payload plaintext != plaintext_hex")
    context, batch = parse_context(plaintext, author)
    require(context == [(entry["author"], entry["seq"]) for entry in case["context"]], f"causal context {context} != context")
    require(batch == bytes.fromhex(case["batch_hex"]), "the bytes after the causal context != batch_hex")


def check_context_fails(case):
    """A context_* case: well formed up to the payload, and its causal context breaks a rule."""
    signed = bytes.fromhex(case["bundle_hex"])[:-64]
    author, _, header, payload = parse_bundle(case, signed)
    plaintext = open_payload(case, header, payload)
    try:
        parse_context(plaintext, author)
    except Mismatch:
        return
    raise Mismatch("the causal context breaks no rule of section 7.5")


def check_signature_fails(case, by_name):
    original = by_name.get(case.get("derived_from"))
    require(original is not None and original["expected"] == "valid", "derived_from must name an earlier valid case")
    bundle = bytes.fromhex(case["bundle_hex"])
    require(len(bundle) > 64, "too short to hold a signature")
    require(bundle.hex() != original["bundle_hex"], "identical to its original")
    author = bytes.fromhex(original["author_public_key_hex"])
    require(not verifies(author, bundle[:-64], bundle[-64:]), "signature still verifies against the original author key")


def main():
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    known = "d2dc2baf5f96dddd6db164b23b92ee5ba3699159b290652435218c7e61254144"
    if content_key(bytes([5] * 32)).hex() != known:
        print("content key derivation disagrees with Specs/wire-format.md section 7.8", file=sys.stderr)
        return 1
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_name, passed, failed, skipped = {}, 0, 0, 0
    for case in cases:
        name = case.get("name", "?")
        try:
            require(name not in by_name, "duplicate name")
            for earlier in case["import_before"]:
                require(earlier in by_name, f"import_before names {earlier}, which is not an earlier case")
            if case["expected"] == "valid":
                require(case.get("outcome") in OUTCOMES, f"unknown outcome {case.get('outcome')}")
                check_valid(case)
            elif case["expected"] == "invalidSignature":
                check_signature_fails(case, by_name)
            elif case["expected"] == "malformedBundle" and name.startswith(("context_", "encrypted_context_")):
                check_context_fails(case)
            else:
                require(case["expected"] in ERROR_CODES, f"unknown error code {case['expected']}")
                skipped += 1
                continue
            passed += 1
        except (Mismatch, KeyError, ValueError) as error:
            failed += 1
            print(f"FAIL {name}: {error!r}", file=sys.stderr)
        finally:
            by_name.setdefault(name, case)
    print(f"{len(cases)} cases: Ed25519/BLAKE2b/AEAD/causal context checked {passed + failed}; "
          f"{skipped} other invalid cases need an importer (BundleVectorTests)")
    print(f"bundle vectors checked with PyNaCl: {passed} ok, {failed} wrong")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
