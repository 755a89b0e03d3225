import ConcordCore
import ConcordCrypto

/// The signed table of contents of a snapshot (`Specs/snapshots.md` §4.2): the state of a
/// space at a version vector `V` (the stable cut `S_C` of an applied checkpoint), in the
/// pruned form, whose records travel in content-addressed chunks (``SnapshotChunk``).
///
/// A manifest names its space, its signer, the checkpoint whose `S_C` is `V`, each
/// author's chain link at `V` (sequence, bundle id, newest clock reading), three digests
/// (membership, visible, state), record counts and the id and length of every chunk. The
/// signer's Ed25519 signature covers every byte before it; the snapshot id is the
/// BLAKE2b-256 of those bytes.
///
/// ```swift
/// let manifest = try SnapshotManifest.decode(bytes)      // structure, limits, signature
/// for index in manifest.chunks.indices {
///     let chunk = try SnapshotChunk.decode(fetch(index), index: index, of: manifest)
/// }
/// ```
///
/// Equality and hashing are those of ``bytes``.
public struct SnapshotManifest: Hashable, Sendable {
    /// One author's chain link at `V`: its sequence, the id of that bundle and the newest
    /// clock reading (`hlc max`) of its data bundles up to it (the chain mark).
    public struct Link: Hashable, Sendable {
        /// The author (device id).
        public let author: PublicKey
        /// The author's sequence at `V` (at least 1).
        public let sequence: UInt64
        /// The id of the author's bundle at `sequence`: the next bundle's `previous`.
        public let bundle: BundleID
        /// The greatest `hlc max` of the author's data bundles up to `sequence` (zero when
        /// it wrote only control bundles).
        public let hlcMax: HLCTimestamp

        /// Creates a link.
        /// - Parameters:
        ///   - author: The author.
        ///   - sequence: Its sequence at `V`, at least 1.
        ///   - bundle: The id of that bundle.
        ///   - hlcMax: The chain mark at that bundle.
        public init(author: PublicKey, sequence: UInt64, bundle: BundleID, hlcMax: HLCTimestamp) {
            self.author = author
            self.sequence = sequence
            self.bundle = bundle
            self.hlcMax = hlcMax
        }
    }

    /// A chunk as the manifest names it: its id (BLAKE2b-256 of its bytes) and length.
    public struct ChunkReference: Hashable, Sendable {
        /// BLAKE2b-256 of the chunk's bytes.
        public let id: Digest32
        /// The chunk's length in bytes.
        public let length: Int

        /// Creates a reference.
        /// - Parameters:
        ///   - id: The chunk id.
        ///   - length: Its length in bytes.
        public init(id: Digest32, length: Int) {
            self.id = id
            self.length = length
        }
    }

    /// The manifest's magic bytes, `CNCS`.
    public static let magic: [UInt8] = Array("CNCS".utf8)
    /// The manifest format this build reads and writes (1).
    public static let formatVersion: UInt8 = 1
    /// The most chunks a snapshot may have (65,536).
    public static let maxChunks = 65_536
    /// The most links (authors) a manifest may name (65,536, as a vector of §2).
    public static let maxLinks = 65_536
    /// The largest manifest (64 MiB).
    public static let maxManifestBytes = 64 << 20
    /// The most plaintext a chunk holds (4 MiB), unless one record alone is larger.
    public static let maxChunkPlaintextBytes = 4 << 20
    /// The largest chunk (64 MiB: one record, bounded by the bundle size limit, plus framing).
    public static let maxChunkBytes = (64 << 20) + 1024
    static let encryptedFlag: UInt8 = 0x01

    /// The manifest's exact bytes, signature included.
    public let bytes: [UInt8]
    /// The snapshot id: BLAKE2b-256 of ``bytes`` without the signature.
    public let id: Digest32
    /// The space the snapshot belongs to.
    public let space: PublicKey
    /// The member that sealed and signed it.
    public let author: PublicKey
    /// The signer's clock reading when it sealed.
    public let madeAt: HLCTimestamp
    /// The content-key epoch of the chunks' payloads; `nil` when they are plaintext.
    public let keyID: EpochKeyID?
    /// The checkpoint control bundle whose `S_C` is ``vector``.
    public let checkpoint: BundleID
    /// Each author's link at `V`, authors strictly increasing.
    public let links: [Link]
    /// `V`: author → sequence, from ``links``.
    public let vector: VersionVector
    /// BLAKE2b-256 of the ascending ids of the control bundles at or below `V`
    /// (``membershipDigest(of:)``).
    public let membershipDigest: Digest32
    /// The SHA-256 canonical state digest (`Specs/wire-format.md` §5) of the snapshot's
    /// visible state.
    public let visibleDigest: [UInt8]
    /// The state digest (`Specs/snapshots.md` §4.4) over `V` and the chunk plaintexts.
    public let stateDigest: Digest32
    /// The number of records the chunks hold (live, hidden and stubs).
    public let recordCount: UInt64
    /// How many of them are visible.
    public let liveRecordCount: UInt64
    /// How many of them are delete stubs.
    public let stubCount: UInt64
    /// The total length of the chunk plaintexts.
    public let plaintextBytes: UInt64
    /// The chunks, in order.
    public let chunks: [ChunkReference]
    /// The signer's Ed25519 signature over every byte before it.
    public let signature: Signature

    /// Whether the chunks' payloads are encrypted under the epoch key ``keyID``.
    public var isEncrypted: Bool { keyID != nil }

    /// Compares the manifests' bytes.
    public static func == (lhs: SnapshotManifest, rhs: SnapshotManifest) -> Bool { lhs.bytes == rhs.bytes }

    /// Hashes the manifest's bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// The bytes of `V` as the manifest writes it (`varint n | n × (author | seq | bundle id
    /// | hlc max)`), the part of the state digest that pins the vector.
    public var vectorEncoding: [UInt8] {
        var w = ByteWriter()
        Self.write(links, to: &w)
        return w.bytes
    }

    package static func write(_ links: [Link], to w: inout ByteWriter) {
        w.writeVarint(UInt64(links.count))
        for link in links {
            w.write(contentsOf: link.author.bytes)
            w.writeVarint(link.sequence)
            w.write(contentsOf: link.bundle.bytes)
            w.writeFixed64(link.hlcMax.rawValue)
        }
    }

    init(
        bytes: [UInt8], id: Digest32, space: PublicKey, author: PublicKey, madeAt: HLCTimestamp, keyID: EpochKeyID?,
        checkpoint: BundleID, links: [Link], membershipDigest: Digest32, visibleDigest: [UInt8], stateDigest: Digest32,
        recordCount: UInt64, liveRecordCount: UInt64, stubCount: UInt64, plaintextBytes: UInt64, chunks: [ChunkReference],
        signature: Signature
    ) {
        self.bytes = bytes
        self.id = id
        self.space = space
        self.author = author
        self.madeAt = madeAt
        self.keyID = keyID
        self.checkpoint = checkpoint
        self.links = links
        self.vector = VersionVector(Dictionary(uniqueKeysWithValues: links.map { ($0.author, $0.sequence) }))
        self.membershipDigest = membershipDigest
        self.visibleDigest = visibleDigest
        self.stateDigest = stateDigest
        self.recordCount = recordCount
        self.liveRecordCount = liveRecordCount
        self.stubCount = stubCount
        self.plaintextBytes = plaintextBytes
        self.chunks = chunks
        self.signature = signature
    }

    /// The membership digest of a set of control bundles: BLAKE2b-256 of their 32-byte ids
    /// concatenated in ascending byte order (`Specs/snapshots.md` §4.2).
    /// - Parameters:
    ///   - controlBundles: The ids of the control bundles at or below `V`, in any order.
    /// - Returns: The digest.
    /// - Complexity: O(n log n).
    public static func membershipDigest(of controlBundles: some Sequence<BundleID>) -> Digest32 {
        var hasher = Blake2b()
        for id in controlBundles.sorted() { hasher.update(id.bytes) }
        // Cannot fail: the default output is 32 bytes.
        return try! Digest32(bytes: hasher.finalize())
    }

    /// The state digest (`Specs/snapshots.md` §4.4): BLAKE2b-256 of `"concord-state-v1" 00`,
    /// the vector as the manifest writes it (``vectorEncoding``) and the chunk plaintexts
    /// concatenated. Independent of how the records are split in chunks.
    /// - Parameters:
    ///   - vectorEncoding: `V` with its links, as in the manifest.
    ///   - plaintexts: The chunk plaintexts in order.
    /// - Returns: The digest.
    public static func stateDigest(vectorEncoding: [UInt8], plaintexts: some Sequence<[UInt8]>) -> Digest32 {
        var hasher = Blake2b()
        hasher.update(Array("concord-state-v1".utf8) + [0])
        hasher.update(vectorEncoding)
        for plaintext in plaintexts { hasher.update(plaintext) }
        return try! Digest32(bytes: hasher.finalize())
    }
}
