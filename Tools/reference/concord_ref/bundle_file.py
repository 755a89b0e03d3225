"""Bundle files, format 1 (Specs/wire-format.md section 10), read in the order of the
decoder checklist of section 10.3."""
from . import crypto, dev
from .codec import Reader, Reject

MAGIC = b"CNCF"
HEADER = 4 + 1 + 32
CHECKSUM = 32
MINIMUM = HEADER + CHECKSUM
DEFAULT_MAX_BUNDLE_BYTES = 64 << 20


def read(data, max_bundle_bytes=DEFAULT_MAX_BUNDLE_BYTES):
    """Returns (space id, [bundle bytes]); raises Reject with the section 10.3 code."""
    if dev.on("file-length-before-magic") and len(data) < MINIMUM:
        raise Reject("truncatedFile", "shorter than an empty file")
    if len(data) < 4 and MAGIC.startswith(data) and not dev.on("file-magic-prefix-not-a-file"):
        raise Reject("truncatedFile", "a prefix of the magic")
    if data[:4] != MAGIC:
        raise Reject("notABundleFile", "no CNCF magic")
    if len(data) < MINIMUM:
        raise Reject("truncatedFile", "shorter than an empty file")
    body = len(data) - CHECKSUM
    if dev.on("file-checksum-before-version"):
        check_checksum(data, body)
    if data[4] != 1:
        raise Reject("unsupportedVersion", f"bundle file format {data[4]}")
    space_id = data[5:HEADER]
    if dev.on("file-entries-before-checksum"):
        parse_entries(data, body, space_id, max_bundle_bytes)
    if not dev.on("file-checksum-unchecked"):
        check_checksum(data, body)
    return space_id, parse_entries(data, body, space_id, max_bundle_bytes)


def check_checksum(data, body):
    if crypto.blake2b256(data[:body]) != data[body:]:
        raise Reject("checksumMismatch", "the checksum does not match")


def parse_entries(data, body, space_id, max_bundle_bytes):
    r = Reader(data[:body], code="malformedFile")
    r.offset = HEADER
    entries = []
    while not r.at_end():
        if dev.on("file-accepts-non-minimal-length"):
            start = r.offset
            try:
                n = r.varint()
            except Reject:
                r.offset = start
                n = lenient_varint(r)
        else:
            n = r.varint()
        if n == 0:
            r.fail("empty entry")
        if n > max_bundle_bytes:
            r.fail("entry above the bundle size limit")
        entry = r.take(n)
        if not dev.on("file-entry-magic-unchecked") and (len(entry) < 38 or entry[:4] != b"CNCB"):
            r.fail("an entry that is not a change bundle")
        if not dev.on("file-entry-space-unchecked") and entry[6:38] != space_id:
            r.fail("an entry of another space")
        entries.append(entry)
    return entries


def lenient_varint(r):
    value, shift = 0, 0
    while True:
        byte = r.byte()
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value
