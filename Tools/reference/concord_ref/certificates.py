"""Membership certificates and chains, format 1 (Specs/wire-format.md section 7.3).

Bundle format 3 replaces these with signed control bundles (issue 13); the importer
reaches them only through `parse_chain` (called by the header layout) and `check_member`
(pipeline steps 5-7), so they can be swapped as a unit."""
from . import crypto, dev
from .codec import Reader, Reject

CERTIFICATE_BYTES = 138
SIGNED_BYTES = 74
ROLES = {1: "writer", 2: "reader", 3: "readerIssuer"}


class Certificate:
    def __init__(self, data):
        self.data = data
        self.space_id = data[1:33]
        self.subject = data[33:65]
        self.role = ROLES[data[65]]
        self.issued_at = int.from_bytes(data[66:74], "little")
        self.signature = data[74:]

    def verify(self, issuer):
        if not crypto.verifies(issuer, self.data[:SIGNED_BYTES], self.signature):
            raise Reject("invalidCertificate", "certificate signature")


def parse_chain(blob):
    """u8 count (1 or 2), then that many 138-byte certificates, nothing after."""
    r = Reader(blob, code="malformedBundle")
    count = r.byte()
    if count not in (1, 2) and not (dev.on("chain-accepts-three") and count == 3):
        r.fail(f"certificate chain of {count}")
    if r.remaining != count * CERTIFICATE_BYTES:
        r.fail("certificate chain length")
    chain = []
    for _ in range(count):
        data = r.take(CERTIFICATE_BYTES)
        if data[0] != 1:
            raise Reject("unsupportedVersion", f"certificate format {data[0]}")
        if data[65] not in ROLES:
            raise Reject("malformedBundle" if dev.on("certificate-unknown-role-malformed") else "invalidCertificate",
                         f"certificate role {data[65]}")
        chain.append(Certificate(data))
    return chain


def verify_chain(chain, space_id, now, max_drift):
    """CertificateChain.verify: space ids, issue times within the drift bound, the root
    signed by the space key; a chain of 2 is readerIssuer -> reader, the leaf signed by the
    root's subject."""
    for c in chain:
        if c.space_id != space_id and not dev.on("certificate-space-id-unchecked"):
            raise Reject("invalidCertificate", "certificate of another space")
    latest = now + max_drift
    for c in chain:
        if dev.on("certificate-skips-drift"):
            break
        too_late = c.issued_at >= latest if dev.on("certificate-drift-exclusive") else c.issued_at > latest
        if latest < 1 << 64 and too_late:
            raise Reject("invalidCertificate", "certificate issued in the future")
    chain[0].verify(space_id)
    if len(chain) == 2:
        if (chain[0].role, chain[1].role) != ("readerIssuer", "reader") and not dev.on("chain-rules-unchecked"):
            raise Reject("invalidCertificate", "chain rules")
        chain[1].verify(space_id if dev.on("chain-leaf-signed-by-space") else chain[0].subject)


def check_member(bundle, space_id, now, max_drift):
    """Pipeline steps 5-7 (Specs/wire-format.md section 7.7): certificate chain, leaf role
    writer, author = leaf subject."""
    chain = bundle.membership
    if dev.on("member-role-before-certificate") and chain[-1].role != "writer":
        raise Reject("notAWriter", f"leaf role {chain[-1].role}")
    verify_chain(chain, space_id, now, max_drift)
    if dev.on("member-author-before-role"):
        check_author(bundle, chain)
    if chain[-1].role != "writer" and not dev.on("member-role-unchecked"):
        raise Reject("notAWriter", f"leaf role {chain[-1].role}")
    check_author(bundle, chain)


def check_author(bundle, chain):
    if bundle.author != chain[-1].subject and not dev.on("member-author-unchecked"):
        raise Reject("authorMismatch", "the author is not the certificate's subject")
