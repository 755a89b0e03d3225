import ConcordCore
import ConcordCrypto

extension SnapshotManifest {
    /// What a sealer states in a manifest; ``SnapshotManifest/init(signing:with:)`` encodes
    /// and signs it.
    package struct Draft: Sendable {
        package var space: PublicKey
        package var madeAt: HLCTimestamp
        package var keyID: EpochKeyID?
        package var checkpoint: BundleID
        package var links: [Link]
        package var membershipDigest: Digest32
        package var visibleDigest: [UInt8]
        package var stateDigest: Digest32
        package var recordCount: UInt64
        package var liveRecordCount: UInt64
        package var stubCount: UInt64
        package var plaintextBytes: UInt64
        package var chunks: [ChunkReference]

        package init(
            space: PublicKey, madeAt: HLCTimestamp, keyID: EpochKeyID?, checkpoint: BundleID, links: [Link],
            membershipDigest: Digest32, visibleDigest: [UInt8], stateDigest: Digest32, recordCount: UInt64,
            liveRecordCount: UInt64, stubCount: UInt64, plaintextBytes: UInt64, chunks: [ChunkReference]
        ) {
            self.space = space
            self.madeAt = madeAt
            self.keyID = keyID
            self.checkpoint = checkpoint
            self.links = links.sorted { $0.author < $1.author }
            self.membershipDigest = membershipDigest
            self.visibleDigest = visibleDigest
            self.stateDigest = stateDigest
            self.recordCount = recordCount
            self.liveRecordCount = liveRecordCount
            self.stubCount = stubCount
            self.plaintextBytes = plaintextBytes
            self.chunks = chunks
        }
    }

    /// Encodes and signs `draft` as `signer`.
    /// - Parameters:
    ///   - draft: The manifest's contents.
    ///   - signer: The sealing member's device identity (the manifest's author).
    package init(signing draft: Draft, with signer: Identity) {
        var w = ByteWriter()
        w.write(contentsOf: Self.magic)
        w.write(Self.formatVersion)
        w.write(draft.keyID == nil ? 0 : Self.encryptedFlag)
        w.write(contentsOf: draft.space.bytes)
        w.write(contentsOf: signer.publicKey.bytes)
        w.writeFixed64(draft.madeAt.rawValue)
        if let keyID = draft.keyID { w.write(contentsOf: keyID.bytes) }
        w.write(contentsOf: draft.checkpoint.bytes)
        Self.write(draft.links, to: &w)
        w.write(contentsOf: draft.membershipDigest.bytes)
        w.write(contentsOf: draft.visibleDigest)
        w.write(contentsOf: draft.stateDigest.bytes)
        w.writeVarint(draft.recordCount)
        w.writeVarint(draft.liveRecordCount)
        w.writeVarint(draft.stubCount)
        w.writeVarint(draft.plaintextBytes)
        w.writeVarint(UInt64(draft.chunks.count))
        for chunk in draft.chunks {
            w.write(contentsOf: chunk.id.bytes)
            w.writeVarint(UInt64(chunk.length))
        }
        let signed = w.bytes
        let signature = signer.sign(signed)
        self.init(
            bytes: signed + signature.bytes, id: Blake2b.hash(signed), space: draft.space, author: signer.publicKey,
            madeAt: draft.madeAt, keyID: draft.keyID, checkpoint: draft.checkpoint, links: draft.links,
            membershipDigest: draft.membershipDigest, visibleDigest: draft.visibleDigest, stateDigest: draft.stateDigest,
            recordCount: draft.recordCount, liveRecordCount: draft.liveRecordCount, stubCount: draft.stubCount,
            plaintextBytes: draft.plaintextBytes, chunks: draft.chunks, signature: signature)
    }

    /// Decodes a manifest strictly and checks its signature (`Specs/snapshots.md` §4.2).
    ///
    /// Checks, before anything else is believed: the size limit, the magic, the version, no
    /// reserved flag bits, links with authors strictly increasing and sequences of at least
    /// 1 (at most ``maxLinks``), live records and stubs not more than the records, 1 to
    /// ``maxChunks`` chunks each of a possible length, no trailing bytes, and the author's
    /// Ed25519 signature over every byte before it. It does not check membership, the
    /// checkpoint or the trust policy (the loader does, §4.5).
    ///
    /// ```swift
    /// let manifest = try SnapshotManifest.decode(body)
    /// print(manifest.id, manifest.author, manifest.vector)
    /// ```
    /// - Parameters:
    ///   - bytes: The manifest's bytes.
    /// - Returns: The manifest.
    /// - Throws: ``ConcordError`` with code `.malformedSnapshot` (structure or limits, naming
    ///   the byte offset), `.unsupportedVersion` (a format other than 1) or
    ///   `.invalidSignature`.
    public static func decode(_ bytes: [UInt8]) throws(ConcordError) -> SnapshotManifest {
        guard bytes.count <= maxManifestBytes else {
            throw ConcordError(
                .malformedSnapshot,
                "the snapshot manifest is \(bytes.count) bytes, more than the limit of \(maxManifestBytes); it is not a valid manifest")
        }
        guard bytes.count >= magic.count, Array(bytes.prefix(magic.count)) == magic else {
            throw ConcordError(
                .malformedSnapshot, "the data does not start with \"CNCS\": it is not a Concord snapshot manifest, or it is truncated")
        }
        do {
            return try decodeAfterMagic(bytes)
        } catch let error as ConcordError {
            throw error
        } catch let error as ConcordCoreError {
            throw ConcordError(.malformedSnapshot, "snapshot manifest: \(error.message)")
        } catch {
            throw ConcordError(.malformedSnapshot, "snapshot manifest: \(error)")
        }
    }

    private static func decodeAfterMagic(_ bytes: [UInt8]) throws -> SnapshotManifest {
        var r = ByteReader(bytes, range: magic.count..<bytes.count)
        let version = try r.readByte()
        guard version == formatVersion else {
            throw ConcordError(
                .unsupportedVersion,
                "snapshot manifest format \(version) is not supported by this version of Concord (it reads format \(formatVersion)); update Concord on this device, or sync from the log instead"
            )
        }
        let flags = try r.readByte()
        guard flags & ~encryptedFlag == 0 else { throw r.error("reserved flag bits \(flags) are set") }
        let space = try PublicKey(bytes: r.readBytes(PublicKey.byteCount))
        let author = try PublicKey(bytes: r.readBytes(PublicKey.byteCount))
        let madeAt = HLCTimestamp(rawValue: try r.readFixed64())
        let keyID = flags & encryptedFlag != 0 ? try EpochKeyID(bytes: r.readBytes(EpochKeyID.byteCount)) : nil
        let checkpoint = BundleID(digest: try Digest32(bytes: r.readBytes(32)))
        let linkCount = try r.readCount(minimumItemSize: 32 + 1 + 32 + 8, what: "link")
        guard linkCount <= maxLinks else { throw r.error("\(linkCount) links (at most \(maxLinks))") }
        var links: [Link] = []
        links.reserveCapacity(linkCount)
        for _ in 0..<linkCount {
            let linkAuthor = try PublicKey(bytes: r.readBytes(PublicKey.byteCount))
            if let previous = links.last, !(previous.author < linkAuthor) {
                throw r.error("the links' authors are not strictly increasing (unsorted or repeated)")
            }
            let sequence = try r.readVarint()
            guard sequence >= 1 else { throw r.error("a link of sequence 0 (chain positions start at 1; leave the author out)") }
            let bundle = BundleID(digest: try Digest32(bytes: r.readBytes(32)))
            let hlcMax = HLCTimestamp(rawValue: try r.readFixed64())
            links.append(Link(author: linkAuthor, sequence: sequence, bundle: bundle, hlcMax: hlcMax))
        }
        let membershipDigest = try Digest32(bytes: r.readBytes(32))
        let visibleDigest = Array(try r.readBytes(32))
        let stateDigest = try Digest32(bytes: r.readBytes(32))
        let recordCount = try r.readVarint()
        let liveRecordCount = try r.readVarint()
        let stubCount = try r.readVarint()
        guard liveRecordCount <= recordCount, stubCount <= recordCount - liveRecordCount else {
            throw r.error("\(liveRecordCount) live records and \(stubCount) stubs are more than the \(recordCount) records")
        }
        let plaintextBytes = try r.readVarint()
        let chunkCount = try r.readCount(minimumItemSize: 33, what: "chunk")
        guard (1...maxChunks).contains(chunkCount) else { throw r.error("\(chunkCount) chunks (1 to \(maxChunks))") }
        let minimumChunk = SnapshotChunk.headerBytes(index: 0) + (keyID == nil ? 0 : 24 + 16)
        var chunks: [ChunkReference] = []
        chunks.reserveCapacity(chunkCount)
        for index in 0..<chunkCount {
            let id = try Digest32(bytes: r.readBytes(32))
            let length = try r.readVarint()
            let least = minimumChunk + SnapshotChunk.headerBytes(index: index) - SnapshotChunk.headerBytes(index: 0)
            guard length >= UInt64(least), length <= UInt64(maxChunkBytes) else {
                throw r.error("chunk \(index) of \(length) bytes (\(least) to \(maxChunkBytes))")
            }
            chunks.append(ChunkReference(id: id, length: Int(length)))
        }
        let signedEnd = r.offset
        let signature = try Signature(bytes: r.readBytes(Signature.byteCount))
        guard r.isAtEnd else { throw r.error("\(r.remaining) trailing bytes after the signature") }
        let signed = bytes[0..<signedEnd]
        guard author.isValidSignature(signature, for: signed) else {
            throw ConcordError(
                .invalidSignature,
                "the snapshot manifest's signature does not verify against its author \(author.hex): it was altered or forged; discard it and fetch the snapshot again, or sync from the log"
            )
        }
        return SnapshotManifest(
            bytes: bytes, id: Blake2b.hash(signed), space: space, author: author, madeAt: madeAt, keyID: keyID,
            checkpoint: checkpoint, links: links, membershipDigest: membershipDigest, visibleDigest: visibleDigest,
            stateDigest: stateDigest, recordCount: recordCount, liveRecordCount: liveRecordCount, stubCount: stubCount,
            plaintextBytes: plaintextBytes, chunks: chunks, signature: signature)
    }
}
