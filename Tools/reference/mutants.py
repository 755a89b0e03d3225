#!/usr/bin/env python3
"""Mutation harness: are the vectors in Specs/vectors strong enough to catch an
implementation that gets a rule wrong?

    python3 Tools/reference/mutants.py [--list] [--verbose] [NAME ...]

First the unmodified reference (Tools/reference/concord_ref) must agree with every vector.
Then each deviation below is switched on alone (concord_ref/dev.py) and the vectors are run
again: the deviation is caught when at least one vector disagrees. Prints
"vectors catch N of M deviations" and exits 1 if any deviation survives (naming it) other
than the known gaps of KNOWN_GAPS (each reported; the list is empty now),
if a known gap is caught (remove it from the list then), if
the unmodified reference disagrees with a vector, or if a deviation listed here is not
wired into the reference (or one wired in is not listed). Exits 2 without PyNaCl.

The list is documented in Specs/correctness.md ("Mutation-adequate vectors"); keep both
in step."""
import ast
import pathlib
import re
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from concord_ref import crypto, dev, vectors  # noqa: E402

# (name, what the deviating implementation does). Grouped as in Specs/correctness.md.
MUTANTS = [
    # Encoding primitives (wire-format sections 1 and 6)
    ("varint-accept-non-minimal", "accepts a varint with a final 00 group (80 00 for 0)"),
    ("varint-accept-over-64-bits", "accepts a 10th varint byte above 01"),
    ("varint-accept-eleven-bytes", "accepts a varint continuing into an 11th byte"),
    ("utf8-accept-surrogates", "accepts UTF-8-encoded surrogates (ed a0 80)"),
    ("utf8-replace-invalid", "accepts invalid UTF-8 (as if replacing it with U+FFFD)"),
    # Values (wire-format 3, crdt-semantics 1)
    ("bool-accept-any-nonzero", "reads any non-zero bool payload as true"),
    ("double-nan-canonicalized", "replaces every NaN by the quiet NaN 7ff8000000000000 when decoding"),
    ("double-negative-zero-canonicalized", "decodes -0.0 as +0.0"),
    ("strings-normalized-nfc", "normalizes string values to NFC"),
    ("names-normalized-nfc", "normalizes collection and field names to NFC"),
    ("value-order-bytes-before-string", "orders bytes before strings (kind ranks swapped)"),
    ("value-order-numbers-mixed", "orders ints and doubles together by numeric value"),
    ("bool-order-reversed", "orders true before false"),
    ("int-order-unsigned", "orders ints as unsigned 64-bit numbers (negatives last)"),
    ("double-order-unsigned-bits", "orders doubles by their bit pattern as an unsigned number"),
    ("double-order-signed-bits", "orders doubles by their bit pattern as a signed number"),
    ("double-order-numeric", "orders doubles by IEEE <, -0.0 tied with +0.0, NaNs last"),
    ("double-order-nan-last", "orders every NaN, negative ones included, after +infinity"),
    ("double-order-negative-nan-payload-ascending", "orders negative NaNs by ascending payload"),
    ("double-zeros-equal", "treats -0.0 and +0.0 as one value in sets"),
    ("double-nans-equal", "treats all NaNs as one value in sets"),
    ("string-order-utf16", "orders strings by UTF-16 code units, not UTF-8 bytes"),
    ("string-order-length-first", "orders strings by length, then bytes"),
    ("bytes-order-signed", "compares bytes as signed (80-ff before 00)"),
    ("bytes-order-length-first", "orders byte strings by length, then bytes"),
    ("reference-order-id-first", "orders references by record id before collection"),
    # Operation batches (wire-format 2, 4, 6)
    ("batch-version-after-tables", "reads the tables before checking the format byte"),
    ("batch-unknown-kind-is-delete", "reads an unknown op kind as a delete"),
    ("batch-index-bound-inclusive", "accepts a table index equal to the table's count"),
    ("batch-delta-from-zero", "reads each op's clock delta from 0, not from the previous op"),
    ("batch-tag-delta-chained", "reads each observed tag's delta from the previous tag, not from its op"),
    ("batch-delta-not-modular", "adds clock deltas without wrapping modulo 2^64 (and rejects what leaves 0...2^64-1)"),
    ("batch-accept-trailing-bytes", "ignores bytes after the last op"),
    ("encode-tables-sorted", "writes the tables sorted instead of in order of first use"),
    ("encode-field-before-collection", "visits an op's field before its collection when building the name table"),
    # LWW registers (crdt-semantics 3)
    ("lww-tie-replica-reversed", "breaks equal-HLC ties in favour of the smaller replica id"),
    ("lww-no-replica-tiebreak", "breaks no equal-HLC tie: the first write to arrive stays"),
    ("lww-identical-stamp-smaller-value-wins", "gives an identical stamp to the smaller value"),
    ("lww-identical-stamp-keeps-current", "keeps the current value on an identical stamp"),
    # OR-sets and removes (crdt-semantics 4, 5, 6)
    ("add-revives-removed-tag", "an add makes a removed (value, tag) live again"),
    ("remove-kills-every-live-tag", "a remove kills every live tag of its value, observed or not"),
    ("remove-only-known-tags", "a remove stores no tombstone for a tag whose add has not arrived"),
    ("remove-keeps-future-tags", "a remove also applies observed tags stamped after itself"),
    ("remove-keeps-tag-equal-to-own-stamp", "a remove also applies an observed tag equal to its own stamp"),
    ("remove-ignores-delete", "a remove also applies observed tags at or before the record's delete"),
    ("remove-keeps-tag-at-delete", "a remove keeps observed tags at or after the delete, dropping the later ones"),
    ("remove-counts-as-write", "a remove advances the record's last write W (and can revive it)"),
    # Records and the delete rule (crdt-semantics 5)
    ("delete-counts-as-write", "a delete advances the record's last write W"),
    ("dropped-write-not-counted", "a set or add dropped by the delete rule does not advance W"),
    ("delete-tie-write-wins", "a record is visible when W == D (the write wins the tie)"),
    ("delete-tie-keeps-write", "an operation stamped exactly at D is applied (only earlier ones dropped)"),
    ("prune-keeps-stamp-at-delete", "a delete prunes only what is stamped before D, not at D"),
    ("prune-keeps-tombstones", "a delete prunes live tags but keeps tombstones at or before D"),
    ("merge-skips-prune", "state merge does not prune with the merged D"),
    # Pruned form (crdt-semantics 11.2, 11.3)
    ("gc-prunes-undelivered-tombstones", "drops every tombstone, also those whose tag the frontier does not deliver (above it)"),
    ("gc-frontier-exclusive", "drops a tombstone only when its tag is strictly before the frontier, keeping one at it"),
    ("gc-frontier-any-author", "compares a tag with the newest head of any author instead of its own author's"),
    ("gc-drops-live-tags", "also drops live tags the frontier delivers"),
    ("gc-keeps-hidden-write", "keeps the last write W of a hidden record"),
    ("gc-drops-delete-stub", "drops a hidden record whole instead of keeping its delete stub"),
    ("gc-keeps-empty-records", "keeps a record left with no delete, no write, no register and no set"),
    ("gc-stub-forgets-bundle", "drops the delete's bundle sequence from the stub"),
    ("gc-merge-ignores-frontiers", "merges pruned states without dropping the tags the other side delivered and collected"),
    # Canonical state (wire-format 5, crdt-semantics 7)
    ("canonical-includes-hidden-records", "writes hidden (deleted or never written) records"),
    ("canonical-counts-hidden-collections", "writes collections whose records are all hidden"),
    ("canonical-includes-empty-sets", "writes sets that have no live member"),
    ("names-sorted-utf16", "sorts names by UTF-16 code units, not UTF-8 bytes"),
    # Hybrid logical clock (hlc.md)
    ("hlc-send-resets-on-equal-ms", "now() restarts the counter at 0 when physical time equals last.ms"),
    ("hlc-counter-wraps", "an exhausted counter wraps to 0 in the same millisecond"),
    ("hlc-no-borrowing", "an exhausted counter fails at once instead of borrowing the next millisecond"),
    ("hlc-borrow-bound-exclusive", "borrowing stops one millisecond before pt + maxDrift"),
    ("hlc-receive-ignores-remote-counter", "receive with equal milliseconds increments last, ignoring a larger remote counter"),
    ("hlc-receive-remote-ahead-resets-counter", "receive of a remote reading ahead of last and pt restarts its counter at 0"),
    ("hlc-receive-skips-drift", "receive accepts readings beyond the drift bound"),
    ("hlc-observe-skips-drift", "observe accepts readings beyond the drift bound"),
    ("hlc-observe-checks-physical", "observe rejects physical time beyond 48 bits"),
    ("hlc-drift-bound-exclusive", "a reading exactly maxDrift ahead is rejected"),
    ("hlc-drift-compares-raw-reading", "the drift check compares whole readings, counter included"),
    ("hlc-drift-bound-wraps", "pt + maxDrift wraps modulo 2^64 instead of saturating"),
    ("hlc-no-physical-range-check", "now and receive accept physical time beyond 48 bits"),
    ("hlc-failed-receive-absorbs-remote", "a receive that fails still moves last to the remote reading"),
    # Coalescing (wire-format 7.6)
    ("coalesce-keeps-duplicates", "keeps exact duplicate ops"),
    ("coalesce-last-set-wins", "keeps the last set of a field in batch order, not the LWW winner"),
    ("coalesce-keeps-every-delete", "keeps every delete of a record"),
    ("coalesce-keeps-ops-at-delete", "keeps ops stamped exactly at the record's delete"),
    ("coalesce-drops-last-write-carrier", "drops the newest set/add before a delete, losing the record's W"),
    ("coalesce-carrier-last-of-equal-stamps", "keeps the last, not the first, of several newest sets/adds with equal stamps before a delete"),
    # Bundle container (wire-format 7.2, 7.3, 7.10)
    ("bundle-size-limit-exclusive", "rejects a bundle exactly max_bundle_bytes long"),
    ("bundle-version-before-magic", "checks the version byte before the magic"),
    ("bundle-version-after-header", "reads the header before rejecting an unknown version"),
    ("bundle-accepts-reserved-flags", "ignores reserved flag bits"),
    ("bundle-accepts-sequence-zero", "accepts sequence 0"),
    ("bundle-previous-rule-unchecked", "does not tie a zero previous id to sequence 1"),
    ("bundle-accepts-empty-clock-range", "accepts hlc min > hlc max"),
    ("bundle-hlc-big-endian", "reads hlc min and max as big-endian (the fixed form of an older hlc.md)"),
    ("bundle-accepts-short-encrypted-payload", "accepts an encrypted payload shorter than nonce and tag"),
    ("bundle-accepts-trailing-bytes", "ignores bytes after the signature"),
    ("chain-accepts-three", "accepts a certificate chain of 3"),
    ("certificate-unknown-role-malformed", "rejects an unknown certificate role as malformedBundle, not invalidCertificate"),
    ("certificate-space-id-unchecked", "accepts a certificate naming another space id"),
    ("certificate-skips-drift", "skips the drift check of certificate issue times"),
    ("certificate-drift-exclusive", "rejects a certificate issued exactly maxDrift ahead"),
    ("chain-rules-unchecked", "accepts any roles in a chain of 2"),
    ("chain-leaf-signed-by-space", "verifies a chain's leaf with the space key instead of the root's subject"),
    ("member-role-unchecked", "accepts bundles of readers and reader issuers"),
    ("member-author-unchecked", "accepts a bundle whose author is not its certificate's subject"),
    ("content-key-subkey-0", "derives the content key with subkey id 0"),
    ("aead-without-header", "decrypts without the header as associated data"),
    ("aead-header-with-payload-length", "takes the header and the payload length as associated data"),
    ("encryption-flag-unchecked", "ignores a bundle encryption flag that differs from the space"),
    # Payload (wire-format 7.5)
    ("context-limit-unchecked", "accepts a causal context of more than 4096 authors"),
    ("context-limit-exclusive", "rejects a causal context of exactly 4096 authors"),
    ("context-accepts-duplicates", "accepts a causal context naming an author twice"),
    ("context-accepts-any-order", "accepts causal context authors in any order (repeats still rejected)"),
    ("context-accepts-own-author", "accepts a causal context naming the bundle's author"),
    ("context-accepts-sequence-zero", "accepts a causal context sequence of 0"),
    ("bundle-batch-version-malformed", "reports an unknown batch format inside a bundle as malformedBundle"),
    ("bundle-accepts-empty-batch", "accepts a bundle without operations"),
    ("bundle-author-of-ops-unchecked", "accepts ops stamped by another replica than the author"),
    ("bundle-hlc-min-unchecked", "does not compare hlc min with the smallest op reading"),
    ("bundle-hlc-max-unchecked", "does not compare hlc max with the greatest op reading"),
    # Import pipeline (wire-format 7.7): checks, their order, outcomes
    ("bundle-skips-drift", "skips the drift check of hlc max"),
    ("bundle-drift-checks-hlc-min", "checks the drift of hlc min instead of hlc max"),
    ("pipeline-size-after-structure", "checks the size limit after decoding the structure"),
    ("pipeline-space-before-structure", "checks the space id before the structure"),
    ("pipeline-signature-before-space", "checks the signature before the space id"),
    ("pipeline-membership-before-signature", "checks certificates, role and author before the signature"),
    ("member-role-before-certificate", "checks the leaf role before verifying the certificate chain"),
    ("member-author-before-role", "checks the author against the leaf subject before the leaf role"),
    ("pipeline-drift-before-membership", "checks clock drift before certificates, role and author"),
    ("pipeline-position-before-duplicate", "checks the chain position before looking for a duplicate"),
    ("pipeline-payload-before-position", "decrypts and decodes the payload before the chain position (fork) check"),
    ("pipeline-held-limit-before-payload", "checks the held limit before decoding the payload"),
    ("pipeline-decrypt-before-flag-check", "decrypts before comparing the encryption flag with the space"),
    ("bundle-hlc-range-before-author", "compares the clock range before the authors of the ops"),
    ("duplicate-ignores-held", "does not count held bundles as already known"),
    ("duplicate-ignores-quarantined", "does not count quarantined bundles as already known"),
    ("fork-skips-sequence-at-or-below-head", "applies a bundle for a place the chain already has"),
    ("fork-skips-previous-link", "does not compare previous with the head's id"),
    ("fork-skips-held-place", "holds a second bundle for a place a held bundle already takes"),
    ("held-limit-off-by-one", "holds one bundle more than max_held_bundles"),
    ("held-limit-per-author", "counts the held limit per author instead of over all authors"),
    ("held-reports-own-sequence", "reports held(waitingFor:) with the bundle's own sequence"),
    ("release-nothing", "does not release held bundles when the gap is filled"),
    ("release-only-one", "releases at most one held bundle"),
    ("payload-failure-rejected", "rejects a verified bundle whose payload fails to open instead of taking it in void"),
    ("batch-version-void", "takes a bundle with an unknown batch format in void instead of rejecting it"),
    ("release-skips-quarantined", "never releases a quarantined bundle that extends the chain"),
    ("monotonicity-off", "applies a data bundle that does not start after its chain mark instead of taking it in void"),
    ("monotonicity-allows-equal", "accepts a data bundle whose hlc min equals its chain mark"),
    ("monotonicity-predecessor-only", "checks hlc min against the predecessor's hlc max instead of the chain mark"),
    # Bundle files (wire-format 10)
    ("file-length-before-magic", "reports a short input as truncatedFile before comparing the magic"),
    ("file-magic-prefix-not-a-file", "reports a proper prefix of the magic as notABundleFile"),
    ("file-checksum-before-version", "verifies the checksum before the version byte"),
    ("file-entries-before-checksum", "parses the entries before verifying the checksum"),
    ("file-checksum-unchecked", "does not verify the checksum"),
    ("file-accepts-non-minimal-length", "accepts a non-minimal entry length varint"),
    ("file-entry-magic-unchecked", "accepts an entry that does not start with CNCB"),
    ("file-entry-space-unchecked", "accepts an entry of another space than the file's"),
    # Invite tokens (wire-format 7.4)
    ("invite-whitespace-kept", "does not trim surrounding whitespace"),
    ("invite-prefix-case-sensitive", "rejects an uppercase prefix"),
    ("invite-body-lowercase-only", "rejects uppercase base32 characters"),
    ("invite-any-length", "accepts base32 lengths that leave 1, 3 or 6 characters in the last group"),
    ("invite-trailing-bits-unchecked", "accepts non-zero trailing bits"),
    ("invite-checksum-unchecked", "does not verify the checksum"),
    # Membership: control payload (membership.md section 3)
    ("membership-version-unsupported", "reports an unknown control payload version as unsupportedVersion, not malformedBundle"),
    ("membership-unknown-role-is-reader", "reads an unknown role byte as reader"),
    ("membership-position-zero-accepted", "accepts a boundary or cut-off of 0"),
    ("membership-name-any-length", "accepts names of 0 or more than 64 bytes"),
    ("membership-name-controls-allowed", "accepts C0, DEL and C1 control characters in names"),
    ("membership-name-c1-allowed", "accepts C1 control characters (U+0080 to U+009F) in names"),
    ("membership-name-length-in-characters", "limits names to 64 characters instead of 64 bytes"),
    ("membership-name-utf8-malformed-encoding", "reports invalid UTF-8 in a name as malformedEncoding, not malformedBundle"),
    ("membership-lists-unsorted", "accepts keep, seen and recipient lists that are not strictly increasing"),
    ("membership-recipients-zero-accepted", "accepts an epoch or grant with no recipient"),
    ("membership-history-any-length", "accepts a history blob of any length"),
    ("membership-epoch-optional", "reads an epoch field of a genesis or remove whenever bytes remain, whatever the space"),
    ("membership-rotate-in-plain-space-decodes", "decodes a rotate in an unencrypted space"),
    ("membership-genesis-mismatch-malformed", "reports a genesis of the other kind of space as malformedBundle, not encryptionMismatch"),
    ("membership-accept-trailing-bytes", "ignores bytes after the op"),
    ("membership-genesis-reserved-flags-accepted", "ignores reserved genesis flag bits"),
    ("membership-grant-in-plain-space-rejected", "rejects a grant in an unencrypted space when decoding (it decodes, and is void)"),
    ("membership-genesis-history-accepted", "accepts a genesis epoch with a history blob"),
    # Membership: signed statements
    ("membership-genesis-signature-unchecked", "does not verify the genesis's space signature"),
    ("membership-join-signature-unchecked", "does not verify the join's invite signature"),
    ("membership-successor-signature-unchecked", "does not verify the successor's predecessor signature"),
    # Membership: evaluation (membership.md section 5 and 5.1)
    ("membership-arrival-order", "processes ops in arrival order instead of (t, author, k)"),
    ("membership-ties-by-arrival", "breaks (t, author, k) ties by arrival order instead of bundle id, then payload bytes"),
    ("membership-duplicates-count", "processes a record held twice twice"),
    ("membership-joins-do-not-wait", "processes a join at its own place without waiting for its invite (void, not pending, without it)"),
    ("membership-only-applied-invites-release", "releases waiting joins only when their invite op is applied (a join through a void invite stays pending)"),
    ("membership-genesis-recipients-unchecked", "applies an encrypted genesis whose epoch is sealed to other devices than its author"),
    ("membership-position-rules-unchecked", "does not tie genesis, join and successor to position 1 and other ops to positions 2 and later"),
    ("membership-admin-unchecked", "lets any member issue admin ops"),
    ("membership-first-assignment-wins", "takes the role of the first assignment below a position instead of the last"),
    ("membership-boundary-inclusive", "applies an assignment from its boundary itself (b <= k instead of b < k)"),
    ("membership-last-cut-wins", "sets a removed device's cut to the last applied cut-off instead of the lowest"),
    ("membership-no-mutual-rule", "voids a removal by an admin that the target removed concurrently (no mutual-removal rule)"),
    ("membership-mutual-ignores-position", "applies a removed admin's removal of its remover even after it saw its own removal"),
    ("membership-no-restart", "voids retroactively refused ops without restarting the pass (their effects stay)"),
    ("membership-recheck-counts-own-assignment", "re-checks an applied op with the assignment it made itself (an admin's self-demotion below its own position becomes void)"),
    ("membership-void-forgotten-on-restart", "does not keep ops found void (step 1 or 2) in voided across restarts"),
    ("membership-ignore-expiry", "admits joins after the invite's expiry"),
    ("membership-expiry-exclusive", "voids a join stamped in the invite's expiry millisecond"),
    ("membership-ignore-max-uses", "admits joins beyond the invite's max uses"),
    ("membership-revocation-ignores-seen", "voids every join through a revoked invite, even one in seen"),
    ("membership-revocations-any-seen", "keeps a join through an invite revoked twice when one revocation lists it in seen"),
    ("membership-revocation-not-retroactive", "keeps joins through an invite applied before its revocation"),
    ("membership-removal-spares-successors", "keeps the successors of a removed device that the removal does not list in keep"),
    ("membership-successor-inherits-role-now", "gives a successor its predecessor's current role, not the role after the cut-off"),
    ("membership-successors-unlimited", "applies a 17th successor of one device"),
    ("membership-successor-does-not-retire", "does not retire the predecessor after the successor's cut-off"),
    # Membership: epochs (section 7) and admission (section 6)
    ("membership-no-taint", "never taints an epoch sealed to a removed device or a revoked or expired invite"),
    ("membership-grant-never-taints", "does not taint an epoch granted to a removed device"),
    ("membership-key-reuse-untainted", "does not taint an epoch whose key id repeats an earlier one"),
    ("membership-current-epoch-last", "takes the last epoch as current, tainted or not"),
    ("membership-readers-write", "applies data bundles of readers"),
    ("membership-retired-control-applied", "applies a retired device's control bundle past its retirement instead of storing it as evidence"),
    ("membership-void-admission-held", "holds the data of an author whose position-1 admission op is void instead of refusing it"),
    ("membership-unknown-authors-refused", "refuses data bundles of unknown or pending authors instead of holding them"),
    # Permissions in membership: named roles and set-policy (permissions.md sections 3.1, 3.2, 4.1)
    ("membership-named-role-is-reader", "treats every policy role as a reader, whatever its base"),
    ("membership-named-role-any-base", "accepts a named role whose base is admin or an unknown byte"),
    ("membership-role-name-unchecked", "accepts any string as a policy role name (built-in names, capitals, non-ASCII, empty, over 32 bytes)"),
    ("policy-form-any-space", "accepts a plaintext policy in an encrypted space and a sealed one in an unencrypted space"),
    ("policy-seen-unchecked", "applies a set-policy whose seen vector does not give its author k - 1"),
    ("policy-latest-governs", "takes the latest applied policy as G(A, k), whatever its seen vector"),
    ("scope-readers-unchecked", "accepts any, unsorted or repeated role-refs in a scope-key"),
    ("scope-taint-as-content", "taints a scope epoch only for recipients that are not members (as a content epoch), not for members outside the scope"),
    ("policy-sealed-ad-key-id", "opens a sealed policy body with its key id as associated data instead of the control bundle's header"),
    ("policy-governs-inclusive", "lets a policy govern the bundles its seen vector holds (k >= seen[A] instead of k > seen[A])"),
    # Acknowledgements, stale marks, checkpoints and the stable cut (snapshots.md 2 and 3, crdt-semantics.md 11.1)
    ("stability-vector-zero-accepted", "accepts a vector entry of 0 in an ack, checkpoint or set-policy"),
    ("stability-any-stale-reason", "accepts a stale reason other than 01 and 02"),
    ("stability-ack-own-entry-unchecked", "applies an ack whose held vector does not give its author k - 1"),
    ("stability-ack-keeps-stale", "does not clear a device's stale mark when it acknowledges after it"),
    ("stability-checkpoint-unchecked", "applies a checkpoint whose S_C exceeds R_C or whose R_C does not give its author k - 1"),
    ("stability-finality-ignored", "cuts a removed device at the removal's cut-off even below a checkpoint's S_C (no finality)"),
    ("stability-set-role-not-clamped", "applies a set-role from its boundary even below the target's final position"),
    ("stability-stale-counted", "counts a stale member for the stable cut"),
    ("stability-removed-counted", "counts a removed member for the stable cut"),
    ("stability-readers-counted", "counts readers for the stable cut"),
    ("stability-latest-ack-only", "takes a member's latest bundle alone as its acknowledgement, so a later control bundle without a vector erases what its data bundles acknowledged"),
    ("stability-context-without-own-entry", "takes a bundle's causal context as its acknowledgement without setting the author's own entry to the bundle's sequence"),
    # Invite tokens of format 2 and the history blob (membership sections 3 and 4)
    ("token2-checksum-unchecked", "does not check a format-2 token's checksum"),
    ("token2-flags-as-bool", "reads any non-zero flags byte of a format-2 token as encrypted"),
    ("token2-length-unchecked", "accepts a token whose length disagrees with its encryption flag"),
    ("token2-epoch-id-unchecked", "accepts a token whose epoch key id does not match its key"),
    ("peer-secret-handshake-context", "derives the peer secret with the handshake key's context \"CCpeerhs\""),
    ("history-any-length", "opens a history blob of any length"),
    ("history-entry-id-unchecked", "accepts a history entry whose key id does not match its key"),
    # Bundles of format 3 (wire-format 7.11): verification for a space's format
    ("format3-accepts-reserved-flags", "ignores the reserved flag bits 2-7 of a format-3 bundle"),
    ("format3-accepts-control-encrypted", "accepts a control bundle with the encryption flag (flags 03)"),
    ("format3-control-clock-range-unchecked", "accepts a control bundle whose hlc min differs from its hlc max"),
    ("format3-control-payload-any-length", "accepts a control payload shorter than 2 bytes (version and kind)"),
    ("format3-key-id-always", "reads a 16-byte key id after hlc max even when the payload is not encrypted"),
    ("format3-key-id-never", "reads no key id, taking the payload length right after hlc max even when encrypted"),
    ("format3-aead-header-without-key-id", "opens a data payload with the header up to hlc max, without the key id, as associated data"),
    ("format3-reads-either-format", "reads a bundle of either format (2 or 3) whatever the space's format"),
    ("format3-format-after-signature", "reads either format and refuses the other format only after the space id and signature"),
    ("format3-signature-before-space", "checks the signature before the space id"),
    ("format3-skips-drift", "skips the drift check of hlc max"),
    ("format3-drift-checks-hlc-min", "checks the drift of hlc min instead of hlc max"),
    # Sectioned payloads (permissions.md section 7.3, flag bit 2)
    ("sections-flag-reserved", "keeps flag bit 2 reserved (refuses every sectioned bundle)"),
    ("sections-flag-ignored", "accepts flag bit 2 but reads the payload as an ordinary box"),
    ("sections-without-encryption", "accepts flag bit 2 without bit 0"),
    ("sections-short-blob", "accepts a sealed blob (general or scope section) shorter than a nonce and a tag"),
    ("sections-count-zero", "accepts a sectioned payload with m = 0 sections"),
    ("sections-count-unbounded", "accepts more than 16 scope sections"),
    ("sections-key-ids-any-order", "accepts scope sections whose key ids are not increasing"),
    ("sections-key-ids-repeat", "accepts two scope sections under the same key id"),
    ("sections-trailing-bytes", "ignores bytes after the last scope section"),
    ("sections-open-whole-payload", "decrypts the whole sectioned payload under the epoch key instead of the general blob"),
    ("sections-general-must-hold-ops", "refuses a sectioned bundle whose general batch is empty (emptyBundle)"),
    ("sections-general-range-exact", "requires the general ops of a sectioned bundle to span hlc min...hlc max exactly"),
    ("sections-general-range-unchecked", "does not check that the general ops of a sectioned bundle lie within hlc min...hlc max"),
    ("sections-ad-without-key-id", "opens a scope section with the header alone as associated data, without its key id"),
    ("sections-empty-accepted", "accepts a scope section without operations"),
    ("sections-author-unchecked", "accepts a scope section op stamped by another device"),
    ("sections-range-unchecked", "accepts a scope section op outside hlc min...hlc max"),
    # Snapshots (snapshots.md 4.2, 4.4)
    ("snapshot-skip-signature", "does not check the manifest's Ed25519 signature"),
    ("snapshot-accept-unsorted-links", "accepts links whose authors are not strictly increasing"),
    ("snapshot-skip-chunk-id", "does not check a chunk's id against the manifest (its length only)"),
    ("snapshot-skip-record-order", "does not check the records' (collection, id) order, within or across chunks"),
    ("snapshot-skip-state-digest", "does not check the state digest"),
    ("snapshot-digest-without-vector", "computes the state digest over the chunk plaintexts alone, without V"),
]


# Deviations that no vector catches yet, reported by every run (not hidden). A run fails if
# a deviation outside this list survives, or if one in it is caught (then remove it here).
# The 17 membership gaps listed here before are caught by the cases of
# Tools/GenerateVectors/MembershipVectors+Gaps.swift. The three below are format-3 gaps of
# the first Specs/vectors/member_bundles.jsonl; each is caught by one case that file does not
# have yet (checked with the cases forged in Python from its own bundles and test keys):
# - control_and_encrypted_with_key_id: the genesis with flags 03 AND a 16-byte key id after
#   hlc max, re-signed (control_and_encrypted has no key id, so a decoder that accepts 03
#   still fails, on the payload length, with the same malformedBundle);
# - wrong_space_bad_signature: wrong_space with a signature bit flipped, expected wrongSpace;
# - data_clock_max_too_far_ahead: a data bundle of two ops, hlc min within the drift bound
#   and hlc max 1 ms past it, expected clockDriftExceeded (in a control bundle min = max).
KNOWN_GAPS = []

DOC = HERE.parent.parent / "Specs" / "correctness.md"


def markdown():
    """The table of Specs/correctness.md: the groups of MUTANTS (the comments) and rows."""
    source = pathlib.Path(__file__).read_text(encoding="utf-8")
    body = source[source.index("MUTANTS = ["):source.index("\n]\n")]
    rows = []
    for line in body.splitlines()[1:]:
        line = line.strip()
        if line.startswith("# "):
            rows.append(f"| **{line[2:]}** | |")
        elif line.startswith("("):
            name, what = ast.literal_eval(line.rstrip(","))
            rows.append(f"| `{name}` | {what} |")
    return "| deviation | the deviating implementation |\n|---|---|\n" + "\n".join(rows)


# Where each deviation is expected to show first, by name prefix: checking that file first
# only makes the run faster (a deviation still counts as caught by any vector).
FIRST_FILE = [
    ("hlc-", "hlc.jsonl"), ("coalesce-", "coalescing.jsonl"), ("file-", "bundle_files.jsonl"),
    ("invite-", "invites.jsonl"), ("bundle-", "bundles.jsonl"), ("pipeline-", "bundles.jsonl"),
    ("member-", "bundles.jsonl"), ("chain-", "bundles.jsonl"), ("certificate-", "bundles.jsonl"),
    ("context-", "bundles.jsonl"), ("aead-", "bundles.jsonl"), ("content-key-", "bundles.jsonl"),
    ("encryption-", "bundles.jsonl"), ("fork-", "bundles.jsonl"), ("held-", "bundles.jsonl"),
    ("release-", "bundles.jsonl"), ("duplicate-", "bundles.jsonl"), ("membership-", "membership.jsonl"),
    ("token2-", "membership.jsonl"), ("history-", "membership.jsonl"), ("format3-", "member_bundles.jsonl"), ("sections-", "member_bundles.jsonl"),
    ("peer-secret-", "membership.jsonl"), ("policy-", "membership.jsonl"), ("scope-", "membership.jsonl"), ("gc-", "pruning.jsonl"),
    ("stability-", "membership.jsonl"), ("snapshot-", "snapshots.jsonl"),
]


def first_file(name):
    return next((file for prefix, file in FIRST_FILE if name.startswith(prefix)), None)


def wired():
    """Every dev.on("...") name used by the reference."""
    names = set()
    for path in (HERE / "concord_ref").glob("*.py"):
        names |= set(re.findall(r'dev\.on\("([^"]+)"\)', path.read_text(encoding="utf-8")))
    return names


def main(argv):
    if crypto.SigningKey is None:
        print("PyNaCl is not installed. Install it with:\n    python3 -m pip install pynacl", file=sys.stderr)
        return 2
    names = [name for name, _ in MUTANTS]
    if "--list" in argv:
        for name, what in MUTANTS:
            print(f"{name}: {what}")
        return 0
    if "--markdown" in argv:
        print(markdown())
        return 0
    verbose = "--verbose" in argv
    chosen = [a for a in argv if not a.startswith("--")] or names
    problems = []
    if len(set(names)) != len(names):
        problems.append("a deviation is listed twice")
    if set(names) != wired():
        problems.append(f"listed but not wired into the reference: {sorted(set(names) - wired())}; "
                        f"wired but not listed: {sorted(wired() - set(names))}")
    documented = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    undocumented = [name for name in names if f"`{name}`" not in documented]
    if undocumented:
        problems.append(f"not listed in {DOC.name} (python3 Tools/reference/mutants.py --markdown): {undocumented}")
    started = time.monotonic()
    dev.ACTIVE = frozenset()
    failures, checked = vectors.run()
    for file, case, message, *_ in failures:
        problems.append(f"the unmodified reference disagrees with {file} {case}: {message}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    survivors = []
    for name in chosen:
        dev.ACTIVE = frozenset([name])
        failures, _ = vectors.run(first_only=True, first=first_file(name))
        if failures and len(failures[0]) == 4:
            # A crash is a bug in the deviation's hook, not a vector catching it.
            survivors.append(name)
            print(f"  {name}: the deviation crashes the reference ({failures[0][2][:200]}); fix its hook", file=sys.stderr)
        elif failures:
            if verbose:
                file, case, message = failures[0][:3]
                print(f"  {name}: caught by {file} {case} ({message[:100]})")
        else:
            survivors.append(name)
            print(f"  {name}: NOT CAUGHT{' (known gap)' if name in KNOWN_GAPS else ''}: "
                  f"no vector fails when the reference {dict(MUTANTS)[name]}", file=sys.stderr)
    dev.ACTIVE = frozenset()
    caught = len(chosen) - len(survivors)
    print(f"reference agrees with all {checked} vectors; {len(chosen)} deviations in {time.monotonic() - started:.1f} s")
    print(f"vectors catch {caught} of {len(chosen)} deviations")
    unexpected = [name for name in survivors if name not in KNOWN_GAPS]
    closed = [name for name in KNOWN_GAPS if name in chosen and name not in survivors]
    if survivors:
        print(f"known gaps in the vectors (KNOWN_GAPS): {len(survivors) - len(unexpected)}")
    if closed:
        print(f"caught now, remove from KNOWN_GAPS: {closed}", file=sys.stderr)
    return 1 if unexpected or closed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
