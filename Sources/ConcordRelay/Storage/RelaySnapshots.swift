import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// A snapshot as the relay stores it (`Specs/relay-api.md` §3.1, §7): the manifest bytes
/// as uploaded and what the relay read from them. The chunks are stored beside it, by index.
///
/// The relay never opens a snapshot's contents: it keeps the signed manifest, the
/// vector `V` it names (to decide which of two snapshots is newer and which control
/// bundles a loader needs) and the time it was made.
///
/// ```swift
/// let stored = StoredSnapshot(
///     spaceID: space, id: manifestID, vector: v, madeAt: hlc, manifest: manifestBytes,
///     chunkCount: chunks.count, bytes: Int64(manifestBytes.count + chunks.reduce(0) { $0 + $1.count }))
/// try await storage.putSnapshot(stored, chunks: chunks, quotaBytes: 1 << 30)
/// ```
public struct StoredSnapshot: Sendable, Hashable {
    /// The space.
    public var spaceID: SpaceID
    /// The snapshot id: BLAKE2b-256 of the manifest without its signature (`Specs/snapshots.md` §4.2).
    public var id: Digest32
    /// `V`: the vector the snapshot's state is at.
    public var vector: VersionVector
    /// The manifest's `made at` (an HLC reading).
    public var madeAt: UInt64
    /// The manifest bytes as uploaded (signature included).
    public var manifest: [UInt8]
    /// How many chunks follow the manifest.
    public var chunkCount: Int
    /// Manifest and chunk bytes together: what the snapshot counts against the space's quota.
    public var bytes: Int64

    /// Creates a value.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - id: The snapshot id.
    ///   - vector: `V`.
    ///   - madeAt: The manifest's `made at`.
    ///   - manifest: The manifest bytes.
    ///   - chunkCount: How many chunks it has.
    ///   - bytes: Manifest and chunk bytes together.
    public init(spaceID: SpaceID, id: Digest32, vector: VersionVector, madeAt: UInt64, manifest: [UInt8], chunkCount: Int, bytes: Int64) {
        self.spaceID = spaceID
        self.id = id
        self.vector = vector
        self.madeAt = madeAt
        self.manifest = manifest
        self.chunkCount = chunkCount
        self.bytes = bytes
    }
}

/// What ``RelayStorage/putSnapshot(_:chunks:quotaBytes:)`` did.
public enum SnapshotPutOutcome: Sendable, Hashable {
    /// The snapshot is the space's latest now; the one it replaced is kept as the previous.
    case stored
    /// The space already holds a snapshot with this id (latest or previous): nothing changed.
    case alreadyStored
}

/// The rules both backends apply when a snapshot is put (`Specs/relay-api.md` §3.1): which
/// snapshot is newer, and what the space's quota says.
enum SnapshotReplaceRule {
    /// Whether `new` may replace `latest`: its vector includes the latest one's and is
    /// not equal to it. Two vectors neither of which includes the other (two admins'
    /// checkpoints seen in different orders) are refused: a later checkpoint covering
    /// both settles it.
    static func check(_ new: StoredSnapshot, replacing latest: StoredSnapshot?) throws(RelayError) {
        guard let latest else { return }
        guard new.vector.includes(latest.vector), new.vector != latest.vector else {
            throw RelayError.staleSnapshot(stored: latest.id, storedVector: latest.vector, pushedVector: new.vector)
        }
    }

    /// The quota after the put: `used` bundle and snapshot bytes now, plus the new
    /// snapshot, minus the one it drops (the old previous snapshot).
    static func checkQuota(used: Int64, adding: Int64, dropping: Int64, quota: Int64, spaceID: SpaceID) throws(RelayError) {
        guard used - dropping + adding <= quota else {
            throw RelayError.quotaExceeded(spaceID: spaceID, used: used - dropping, adding: adding, quota: quota)
        }
    }

    /// The vector as stored: `n × (author bytes[32] | seq u64 big-endian)`, authors increasing.
    static func encode(_ vector: VersionVector) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(vector.entries.count * 40)
        for (author, seq) in vector.entries.sorted(by: { $0.key < $1.key }) {
            bytes += author.bytes
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: seq >> UInt64(shift))) }
        }
        return bytes
    }

    /// The vector of ``encode(_:)``.
    /// - Throws: ``RelayError`` `.storage` when the bytes are not a stored vector.
    static func decodeVector(_ bytes: some Collection<UInt8>) throws -> VersionVector {
        let bytes = Array(bytes)
        guard bytes.count % 40 == 0 else {
            throw RelayError.storage("a stored snapshot vector has \(bytes.count) bytes, not a multiple of 40")
        }
        var entries: [PublicKey: UInt64] = [:]
        for start in stride(from: 0, to: bytes.count, by: 40) {
            let author = try PublicKey(bytes: bytes[start..<start + 32])
            entries[author] = bytes[start + 32..<start + 40].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        return VersionVector(entries)
    }
}
