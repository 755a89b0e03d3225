"""Change bundles (Specs/wire-format.md sections 7.2 and 7.5): the container, the causal
context and the payload.

The header layout of each bundle format is one function in HEADER_LAYOUTS: header_v2 (7.2)
and header_v3 (7.11: the control flag, no certificate chain, the key id when encrypted).
`decode` reads only the formats it is given: the importer of bundles.jsonl reads format 2,
member_bundle.verify the space's format."""
from . import batch, certificates, crypto, dev
from .codec import Reader, Reject

MAGIC = b"CNCB"
SIGNATURE_BYTES = 64
BOX_OVERHEAD = 24 + 16
MAX_CONTEXT_AUTHORS = 4096
RESERVED_FLAGS = 0xFE
ENCRYPTED_FLAG = 0x01
CONTROL_FLAG = 0x02
RESERVED_FLAGS_V3 = 0xF8
SECTIONS_FLAG = 0x04
MAX_SECTIONS = 16
KEY_ID_BYTES = 16
MIN_CONTROL_PAYLOAD = 2
DEFAULT_MAX_BUNDLE_BYTES = 64 << 20


class Bundle:
    """The decoded container. `header` is bytes [0, H) (the AEAD associated data),
    `signed` bytes [0, end - 64)."""

    def __init__(self, data, version, fields, header_end, payload_start, payload_end):
        self.data = data
        self.version = version
        self.__dict__.update(fields)
        self.header = data[:header_end]
        self.payload = data[payload_start:payload_end]
        self.signed = data[:-SIGNATURE_BYTES]
        self.signature = data[-SIGNATURE_BYTES:]
        self.id = crypto.blake2b256(self.signed)


def header_v2(r):
    """Section 7.2: the fields from offset 5 (after magic and version) to H."""
    flags = r.byte()
    if flags & RESERVED_FLAGS and not dev.on("bundle-accepts-reserved-flags"):
        r.fail(f"reserved flag bits {flags:#04x}")
    space_id = r.take(32)
    author = r.take(32)
    seq = r.varint()
    if seq == 0 and not dev.on("bundle-accepts-sequence-zero"):
        r.fail("sequence 0")
    previous = r.take(32)
    if (seq == 1) != (previous == bytes(32)) and not dev.on("bundle-previous-rule-unchecked"):
        r.fail("previous does not match the sequence")
    hlc_min = r.fixed64()
    hlc_max = r.fixed64()
    if dev.on("bundle-hlc-big-endian"):
        hlc_min, hlc_max = (int.from_bytes(v.to_bytes(8, "little"), "big") for v in (hlc_min, hlc_max))
    if hlc_min > hlc_max and not dev.on("bundle-accepts-empty-clock-range"):
        r.fail("hlc min > hlc max")
    chain = certificates.parse_chain(r.blob())
    return {"encrypted": bool(flags & 1), "space_id": space_id, "author": author, "seq": seq,
            "previous": previous, "hlc_min": hlc_min, "hlc_max": hlc_max, "membership": chain,
            "control": False, "key_id": None, "sectioned": False}


def header_v3(r):
    """Section 7.11: flags (bit 0 encrypted, bit 1 control, bits 2-7 reserved, never both),
    the fields of 7.2 without the certificate chain (a control bundle's clock range is one
    reading), then the 16-byte epoch key id only when encrypted."""
    flags = r.byte()
    reserved = RESERVED_FLAGS_V3 | SECTIONS_FLAG if dev.on("sections-flag-reserved") else RESERVED_FLAGS_V3
    if flags & reserved and not dev.on("format3-accepts-reserved-flags"):
        r.fail(f"reserved flag bits {flags:#04x}")
    encrypted, control = bool(flags & ENCRYPTED_FLAG), bool(flags & CONTROL_FLAG)
    sectioned = bool(flags & SECTIONS_FLAG) and not dev.on("sections-flag-ignored")
    if encrypted and control and not dev.on("format3-accepts-control-encrypted"):
        r.fail("a control bundle is never encrypted")
    if sectioned and not encrypted and not dev.on("sections-without-encryption"):
        r.fail("flag bit 2 (sections) without bit 0 (encrypted)")
    if sectioned and control:  # implied by the two rules above; kept for the message
        r.fail("flag bit 2 (sections) with bit 1 (control)")
    space_id = r.take(32)
    author = r.take(32)
    seq = r.varint()
    if seq == 0:
        r.fail("sequence 0")
    previous = r.take(32)
    if (seq == 1) != (previous == bytes(32)):
        r.fail("previous does not match the sequence")
    hlc_min = r.fixed64()
    hlc_max = r.fixed64()
    if hlc_min > hlc_max:
        r.fail("hlc min > hlc max")
    if control and hlc_min != hlc_max and not dev.on("format3-control-clock-range-unchecked"):
        r.fail("a control bundle's clock range is not one reading")
    key_id = None
    if (encrypted and not dev.on("format3-key-id-never")) or dev.on("format3-key-id-always"):
        key_id = r.take(KEY_ID_BYTES)
    return {"encrypted": encrypted, "space_id": space_id, "author": author, "seq": seq,
            "previous": previous, "hlc_min": hlc_min, "hlc_max": hlc_max, "membership": None,
            "control": control, "key_id": key_id, "sectioned": sectioned}


HEADER_LAYOUTS = {2: header_v2, 3: header_v3}


def decode(data, max_bundle_bytes, formats=(2,)):
    """Pipeline steps 1-2: size, then magic, version and structure. `formats` are the
    bundle formats read (the space's format; section 7.11: a space never mixes them)."""
    if not dev.on("pipeline-size-after-structure"):
        check_size(data, max_bundle_bytes)
    bundle = decode_structure(data, formats)
    if dev.on("pipeline-size-after-structure"):
        check_size(data, max_bundle_bytes)
    return bundle


def check_size(data, max_bundle_bytes):
    too_large = len(data) >= max_bundle_bytes if dev.on("bundle-size-limit-exclusive") else len(data) > max_bundle_bytes
    if too_large:
        raise Reject("bundleTooLarge", f"{len(data)} bytes")


def decode_structure(data, formats=(2,)):
    r = Reader(data, code="malformedBundle")
    if dev.on("bundle-version-before-magic") and len(data) > 4 and data[4] not in formats:
        raise Reject("unsupportedVersion", f"bundle format {data[4]}")
    if data[:4] != MAGIC:
        raise Reject("malformedBundle", "not a change bundle")
    r.offset = 4
    version = r.byte()
    layout = HEADER_LAYOUTS.get(version) if version in formats else None
    if layout is None:
        if dev.on("bundle-version-after-header") and len(data) > 5:
            layout = header_v2
        else:
            raise Reject("unsupportedVersion", f"bundle format {version}")
    fields = layout(r)
    if version not in formats or layout is not HEADER_LAYOUTS.get(version):
        raise Reject("unsupportedVersion", f"bundle format {version}")
    header_end = r.offset
    length = r.varint()
    if r.remaining < SIGNATURE_BYTES or length > r.remaining - SIGNATURE_BYTES:
        r.fail("payload and signature do not fit")
    if fields["encrypted"] and length < BOX_OVERHEAD and not dev.on("bundle-accepts-short-encrypted-payload"):
        r.fail("encrypted payload shorter than nonce and tag")
    if fields["control"] and length < MIN_CONTROL_PAYLOAD and not dev.on("format3-control-payload-any-length"):
        r.fail("a control payload without room for version and kind")
    payload_start = r.offset
    r.take(length)
    payload_end = r.offset
    if r.remaining != SIGNATURE_BYTES and not dev.on("bundle-accepts-trailing-bytes"):
        r.fail("bytes after the signature")
    if dev.on("bundle-accepts-trailing-bytes"):
        data = data[:payload_end + SIGNATURE_BYTES]
    b = Bundle(data, version, fields, header_end, payload_start, payload_end)
    b.general, b.sections = (decode_sections(b.payload) if fields["sectioned"] else (b.payload, []))
    return b


def decode_sections(payload):
    """Permissions section 7.3, checked without keys by every relay and member:
    blob general | varint m (1..16) | m x (key id [16] | blob sealed), key ids strictly
    increasing, every blob at least a nonce and a tag, nothing after the last section.
    Returns the general blob and [(key id, sealed blob)]."""
    r = Reader(payload, code="malformedBundle")

    def blob():
        blob = r.take(r.varint())
        if len(blob) < BOX_OVERHEAD and not dev.on("sections-short-blob"):
            r.fail("a sealed blob shorter than a nonce and a tag")
        return blob

    general = blob()
    count = r.varint()
    low = 0 if dev.on("sections-count-zero") else 1
    high = 1 << 64 if dev.on("sections-count-unbounded") else MAX_SECTIONS
    if not low <= count <= high:
        r.fail(f"{count} scope sections")
    sections = []
    for _ in range(count):
        key_id = r.take(KEY_ID_BYTES)
        if sections and not dev.on("sections-key-ids-any-order"):
            previous = sections[-1][0]
            if key_id < previous or (key_id == previous and not dev.on("sections-key-ids-repeat")):
                r.fail("scope key ids not strictly increasing")
        sections.append((key_id, blob()))
    if r.remaining and not dev.on("sections-trailing-bytes"):
        r.fail("bytes after the last scope section")
    return general, sections


def verify_signature(bundle):
    """Step 4: Ed25519 by the author over the exact signed bytes."""
    if not crypto.verifies(bundle.author, bundle.signed, bundle.signature):
        raise Reject("invalidSignature", "the signature does not verify")


def plaintext(bundle, space):
    """Section 7.5: the encryption flag must match the space, then decrypt with the content
    key and the header as associated data."""
    if dev.on("pipeline-decrypt-before-flag-check") and space.encrypted:
        opened = open_payload(bundle, space)
        check_flag(bundle, space)
        return opened
    if not dev.on("encryption-flag-unchecked"):
        check_flag(bundle, space)
    if space.encrypted:
        return open_payload(bundle, space)
    return bundle.payload


def check_flag(bundle, space):
    if bundle.encrypted != space.encrypted:
        raise Reject("encryptionMismatch", "the encryption flag differs from the space's")


def open_payload(bundle, space):
    ad = bundle.header
    if dev.on("aead-without-header"):
        ad = b""
    elif dev.on("aead-header-with-payload-length"):
        ad = bundle.signed[:len(bundle.signed) - len(bundle.payload)]
    opened = crypto.open_box(space.content_key, bundle.payload, ad)
    if opened is None:
        raise Reject("decryptionFailed", "the payload does not decrypt")
    return opened


def decode_context(r, author):
    """Section 7.5: count <= 4096, entries strictly ascending by author bytes, never the
    bundle's author, sequences >= 1."""
    count = r.varint()
    limit = MAX_CONTEXT_AUTHORS - (1 if dev.on("context-limit-exclusive") else 0)
    if count > limit and not dev.on("context-limit-unchecked"):
        r.fail(f"context of {count} authors")
    if count > r.remaining // 33:
        r.fail(f"context of {count} authors cannot fit")
    entries, previous = [], None
    for _ in range(count):
        name = r.take(32)
        if previous is not None:
            if dev.on("context-accepts-duplicates"):
                ordered = previous <= name
            elif dev.on("context-accepts-any-order"):
                ordered = previous != name
            else:
                ordered = previous < name
            if not ordered:
                r.fail("context authors not strictly ascending")
        if name == author and not dev.on("context-accepts-own-author"):
            r.fail("context names the bundle's author")
        seq = r.varint()
        if seq == 0 and not dev.on("context-accepts-sequence-zero"):
            r.fail("context sequence 0")
        entries.append((name, seq))
        previous = name
    return entries


def contents(bundle, space):
    """Step 11: plaintext, causal context, batch, then the ops against the header.
    Returns (context entries, ops)."""
    text = plaintext(bundle, space)
    r = Reader(text, code="malformedBundle")
    context = decode_context(r, bundle.author)
    try:
        ops = batch.decode(text[r.offset:])
    except Reject as error:
        if error.code == "malformedEncoding" or dev.on("bundle-batch-version-malformed"):
            raise Reject("malformedBundle", error.message)
        raise
    if not ops and not dev.on("bundle-accepts-empty-batch"):
        raise Reject("emptyBundle", "no operations")
    if not ops:
        return context, ops
    if dev.on("bundle-hlc-range-before-author"):
        check_range(bundle, ops)
    for op in ops:
        if op.replica != bundle.author and not dev.on("bundle-author-of-ops-unchecked"):
            raise Reject("authorMismatch", "an op stamped by another replica")
    check_range(bundle, ops)
    return context, ops


def check_range(bundle, ops):
    readings = [op.hlc for op in ops]
    low = bundle.hlc_min if dev.on("bundle-hlc-min-unchecked") else min(readings)
    high = bundle.hlc_max if dev.on("bundle-hlc-max-unchecked") else max(readings)
    if (low, high) != (bundle.hlc_min, bundle.hlc_max):
        raise Reject("malformedBundle", "hlc min/max differ from the ops' readings")
