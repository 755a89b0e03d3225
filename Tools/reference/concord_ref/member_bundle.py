"""Bundles of format 3 (Specs/wire-format.md section 7.11): verification as a relay does it
(`BundleVerifier` with `format: 3`), and opening a data payload under an epoch key.

Order: size, magic, version against the space's format, flags, fields (bundle.header_v3),
payload length, no trailing bytes (bundle.decode_structure), then space id, signature and
the clock drift of hlc max. There is no certificate chain: who may write is the membership
state's decision (Specs/membership.md section 6), not the verifier's."""
from . import batch, bundle as bundles, control, crypto, dev, hlc
from .codec import Reader, Reject

FORMATS = (2, 3)


def verify(data, space_id, space_format, now, max_drift, max_bundle_bytes=bundles.DEFAULT_MAX_BUNDLE_BYTES):
    """The verified Bundle; raises Reject with the first failing check's code."""
    late_format = dev.on("format3-format-after-signature")
    formats = FORMATS if dev.on("format3-reads-either-format") or late_format else (space_format,)
    b = bundles.decode(data, max_bundle_bytes, formats)
    if dev.on("format3-signature-before-space"):
        bundles.verify_signature(b)
    if b.space_id != space_id:
        raise Reject("wrongSpace", "the bundle belongs to another space")
    bundles.verify_signature(b)
    if late_format and b.version != space_format:
        raise Reject("unsupportedVersion", f"bundle format {b.version} in a format-{space_format} space")
    if not dev.on("format3-skips-drift"):
        reading = b.hlc_min if dev.on("format3-drift-checks-hlc-min") else b.hlc_max
        hlc.check_drift(reading, now, max_drift)
    return b


def control_op(b):
    """The membership op of a control bundle (Specs/membership.md section 3). The space's
    encryption is not part of the bundle: a genesis names it, so a genesis of an encrypted
    space is decoded as one."""
    try:
        return control.decode(b.payload, False)
    except Reject as error:
        if error.code != "encryptionMismatch":
            raise
        return control.decode(b.payload, True)


def open_data(b, epoch_key):
    """The payload plaintext of a data bundle: as carried, or decrypted under the epoch key
    with the header (key id included) as associated data."""
    if not b.encrypted:
        return b.payload
    ad = b.header[:-bundles.KEY_ID_BYTES] if dev.on("format3-aead-header-without-key-id") else b.header
    opened = crypto.open_box(epoch_key, b.payload if dev.on("sections-open-whole-payload") else b.general, ad)
    if opened is None:
        raise Reject("decryptionFailed", "the payload does not decrypt under the epoch key")
    return opened


def data_contents(b, text):
    """Section 7.5 applied to a format-3 data plaintext: the causal context, a non-empty
    batch of the author's ops whose readings span exactly hlc min...hlc max."""
    r = Reader(text, code="malformedBundle")
    context = bundles.decode_context(r, b.author)
    ops = batch.decode(text[r.offset:])
    if not ops:
        if b.sectioned and not dev.on("sections-general-must-hold-ops"):
            return context, ops
        raise Reject("emptyBundle", "no operations")
    if any(op.replica != b.author for op in ops):
        raise Reject("authorMismatch", "an op stamped by another replica")
    if b.sectioned and not dev.on("sections-general-range-exact"):
        if dev.on("sections-general-range-unchecked"):
            return context, ops
        if any(not b.hlc_min <= op.hlc <= b.hlc_max for op in ops):
            raise Reject("malformedBundle", "a general op outside hlc min...hlc max")
    else:
        bundles.check_range(b, ops)
    return context, ops


def open_section(b, key_id, sealed, scope_key):
    """Permissions section 7.3 and 6.2: a scope section's ops, opened under its scope key
    with header ‖ key id as associated data. Raises Reject when the section is broken:
    it does not authenticate, does not decode, is empty, or holds an op not stamped by the
    author or outside hlc min...hlc max."""
    ad = b.header if dev.on("sections-ad-without-key-id") else b.header + key_id
    text = crypto.open_box(scope_key, sealed, ad)
    if text is None:
        raise Reject("decryptionFailed", "the section does not decrypt under its scope key")
    try:
        ops = batch.decode(text)
    except Reject as error:
        raise Reject("malformedBundle" if error.code == "malformedEncoding" else error.code, error.message)
    if not ops and not dev.on("sections-empty-accepted"):
        raise Reject("emptyBundle", "a scope section without operations")
    if any(op.replica != b.author for op in ops) and not dev.on("sections-author-unchecked"):
        raise Reject("authorMismatch", "a scope section op stamped by another replica")
    if any(not b.hlc_min <= op.hlc <= b.hlc_max for op in ops) and not dev.on("sections-range-unchecked"):
        raise Reject("malformedBundle", "a scope section op outside hlc min...hlc max")
    return ops
