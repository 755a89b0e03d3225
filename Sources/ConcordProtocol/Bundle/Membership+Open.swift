import ConcordCore
import ConcordCrypto

extension Membership {
    /// Decrypts and decodes a bundle of this space: its author's causal context and its
    /// operations, checked against the header.
    ///
    /// The payload plaintext is the causal context, then the operation batch
    /// (`Specs/wire-format.md`, section 7.5). The context must name at most 4,096 authors,
    /// in strictly ascending byte order, never the bundle's author, each with a sequence of
    /// at least 1. Every operation must be stamped by the bundle's author, and the header's
    /// clock range must be exactly the range of the operations' readings.
    ///
    /// Verify the bundle first (``BundleVerifier``); ``BundleImporter`` does both.
    ///
    /// ```swift
    /// let bundle = try BundleVerifier(spaceID: membership.spaceID).verify(bytes)
    /// let contents = try membership.contents(of: bundle)
    /// if contents.context[membership.device.publicKey] >= myLatest.sequence {
    ///     print("the author had seen all my bundles")
    /// }
    /// ```
    /// - Parameters:
    ///   - bundle: A bundle of this membership's space.
    /// - Returns: The causal context and the operations, in the order the author sealed them.
    /// - Throws: ``ConcordError`` with code `.wrongSpace`, `.encryptionMismatch` (the bundle's
    ///   encryption flag differs from the space's), `.decryptionFailed`, `.malformedBundle`
    ///   (the causal context, the operation batch, or a clock range that does not match),
    ///   `.unsupportedVersion` (the operation batch format), `.emptyBundle`, `.authorMismatch`.
    public func contents(of bundle: ChangeBundle) throws -> BundleContents {
        guard bundle.spaceID == spaceID else {
            throw ConcordError(
                .wrongSpace,
                "this bundle belongs to space \(bundle.spaceID.shortDescription), not to \(spaceID.shortDescription); import it into the space it was made in"
            )
        }
        guard bundle.isEncrypted == isEncrypted else {
            throw ConcordError(
                .encryptionMismatch,
                "this bundle is \(bundle.isEncrypted ? "encrypted" : "not encrypted") but space \(spaceID.shortDescription) is \(isEncrypted ? "encrypted" : "not encrypted"); its author's Concord is misconfigured, ask them to join the space again"
            )
        }
        return try ChangeBundle.openData(bundle, key: contentKey)
    }

    /// The operations of a bundle of this space: ``contents(of:)`` without the causal
    /// context, with the same checks.
    ///
    /// ```swift
    /// let bundle = try BundleVerifier(spaceID: membership.spaceID).verify(bytes)
    /// let ops = try membership.operations(in: bundle)
    /// ```
    /// - Parameters:
    ///   - bundle: A bundle of this membership's space.
    /// - Returns: The operations, in the order the author sealed them.
    /// - Throws: The errors of ``contents(of:)``.
    public func operations(in bundle: ChangeBundle) throws -> [RecordOperation] {
        try contents(of: bundle).operations
    }
}

extension ChangeBundle {
    /// Decrypts (when `key` is given) and decodes a data bundle's payload: its causal
    /// context and its operations, checked against the header (`Specs/wire-format.md` §7.5).
    /// Format 2 opens with the space's content key, format 3 with the epoch key its header
    /// names; the caller has checked the space and the encryption flag.
    /// - Parameters:
    ///   - bundle: A verified data bundle.
    ///   - key: The payload key; `nil` for a plaintext payload.
    /// - Throws: The errors of ``Membership/contents(of:)`` after its space checks.
    package static func openData(_ bundle: ChangeBundle, key: SymmetricKey?) throws -> BundleContents {
        // The plaintext: read in place from the bundle's bytes, or decrypted.
        var plaintext = bundle.bytes
        var range = bundle.payloadRange
        if let key {
            plaintext = try ConcordError.mapping {
                let box = try XChaCha20Poly1305.SealedBox(combined: Array(bundle.generalPayload))
                do {
                    return try XChaCha20Poly1305.open(box, using: key, authenticating: bundle.header)
                } catch {
                    throw ConcordError(
                        .decryptionFailed,
                        "the payload of \(bundle) cannot be decrypted with this space's content key (or the epoch key its header names): it was altered, or this device holds a wrong key; fetch the bundle again, and if that fails join the space again with a fresh invite"
                    )
                }
            }
            range = plaintext.indices
        }
        var reader = ByteReader(plaintext, range: range)
        let context = try ConcordError.mapping("causal context of \(bundle)") {
            try VersionVector.decodeContext(from: &reader, bundleAuthor: bundle.author)
        }
        let batch = Array(plaintext[reader.offset..<range.upperBound])
        let ops = try ConcordError.mapping("operations of \(bundle)") { try OperationCodec.decode(batch) }
        // A sectioned bundle's general batch may be empty (its ops may all be scoped), and its
        // ops need only lie within the header's range: the scoped ops, which only their
        // scope's members can read, may widen it (`Specs/permissions.md` §7.3).
        guard let first = ops.first else {
            if bundle.isSectioned { return BundleContents(context: context, operations: []) }
            throw ConcordError(.emptyBundle, "\(bundle) carries no operations; its author's Concord is faulty, discard the bundle")
        }
        let author = ReplicaID(bytes: bundle.author.bytes)!
        var lowest = first.stamp.hlc
        var highest = first.stamp.hlc
        for op in ops {
            guard op.stamp.replica == author else {
                throw ConcordError(
                    .authorMismatch,
                    "\(bundle) contains operation \(op), stamped by replica \(op.stamp.replica.shortDescription) instead of its author; discard the bundle"
                )
            }
            lowest = min(lowest, op.stamp.hlc)
            highest = max(highest, op.stamp.hlc)
        }
        let fits =
            bundle.isSectioned ? bundle.hlcRange.contains(lowest) && bundle.hlcRange.contains(highest) : lowest...highest == bundle.hlcRange
        guard fits else {
            throw ConcordError(
                .malformedBundle,
                "\(bundle) declares clock range \(bundle.hlcRange) but its \(bundle.isSectioned ? "general " : "")operations span \(lowest)...\(highest); discard the bundle"
            )
        }
        return BundleContents(context: context, operations: ops)
    }

    /// Opens a scope section of a sectioned bundle (`Specs/permissions.md` §7.3) under the
    /// scope key its ``ChangeBundle/Section/keyID`` names: XChaCha20-Poly1305 with `header ‖
    /// key id` as associated data; the plaintext is an operation batch (no causal context).
    ///
    /// A section that does not authenticate, does not decode, is empty, or holds an op not
    /// stamped by the bundle's author or outside the header's clock range is **broken**
    /// (§6.2: every op in it is denied `bad-section`): this throws, and the bundle's other
    /// sections and its general section stand.
    ///
    /// ```swift
    /// for section in bundle.sections {
    ///     guard let key = scopeKeys[section.keyID] else { continue }   // unread here
    ///     let ops = try ChangeBundle.openSection(section, of: bundle, key: key.key)
    /// }
    /// ```
    /// - Parameters:
    ///   - section: One of `bundle.sections`.
    ///   - bundle: A verified sectioned bundle.
    ///   - key: The scope key the section's key id names.
    /// - Returns: The section's operations, in the order the author sealed them.
    /// - Throws: ``ConcordError`` `.decryptionFailed`, `.malformedBundle`,
    ///   `.unsupportedVersion`, `.emptyBundle` or `.authorMismatch`: the section is broken.
    public static func openSection(_ section: Section, of bundle: ChangeBundle, key: SymmetricKey) throws -> [RecordOperation] {
        let plaintext = try ConcordError.mapping {
            let box = try XChaCha20Poly1305.SealedBox(combined: Array(bundle.bytes[section.range]))
            do {
                return try XChaCha20Poly1305.open(box, using: key, authenticating: Array(bundle.header) + section.keyID.bytes)
            } catch {
                throw ConcordError(
                    .decryptionFailed,
                    "scope section \(section.number) of \(bundle) does not open under scope key \(section.keyID.hex.prefix(8)): it was altered or sealed under another key; its ops are not applied"
                )
            }
        }
        let ops = try ConcordError.mapping("operations of scope section \(section.number) of \(bundle)") {
            try OperationCodec.decode(plaintext)
        }
        guard !ops.isEmpty else {
            throw ConcordError(
                .emptyBundle, "scope section \(section.number) of \(bundle) carries no operations; its author's Concord is faulty")
        }
        let author = ReplicaID(bytes: bundle.author.bytes)!
        for op in ops {
            guard op.stamp.replica == author else {
                throw ConcordError(
                    .authorMismatch,
                    "scope section \(section.number) of \(bundle) contains operation \(op), stamped by replica \(op.stamp.replica.shortDescription) instead of its author"
                )
            }
            guard bundle.hlcRange.contains(op.stamp.hlc) else {
                throw ConcordError(
                    .malformedBundle,
                    "scope section \(section.number) of \(bundle) holds operation \(op) outside the declared clock range \(bundle.hlcRange)"
                )
            }
        }
        return ops
    }
}
