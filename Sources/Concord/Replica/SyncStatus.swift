import ConcordCore
import ConcordCrypto

/// Whether a record's local changes have reached another replica.
public enum SyncStatus: Hashable, Sendable, CustomStringConvertible {
    /// Every local change to it is held by a peer or relay (or it was never written here).
    case synced
    /// Local changes not sealed into a bundle yet.
    case unsealed
    /// Sealed into this device's bundle `sequence`, which no peer or relay has
    /// acknowledged yet.
    case unacknowledged(sequence: UInt64)

    /// Whether local changes are still on this device only.
    public var isPending: Bool { self != .synced }

    /// `synced`, `pending (not sealed)`, `pending (bundle 4 not acknowledged)`.
    public var description: String {
        switch self {
        case .synced: "synced"
        case .unsealed: "pending (not sealed)"
        case .unacknowledged(let sequence): "pending (bundle \(sequence) not acknowledged)"
        }
    }
}

/// One write of an LWW field, from the log: for history and conflict inspection.
public struct FieldWrite: Hashable, Sendable, CustomStringConvertible {
    /// The value written.
    public var value: Value
    /// Its stamp (clock reading and author); the greatest stamp wins.
    public var stamp: Stamp
    /// The author's bundle sequence that carries it; `nil` for a local write not sealed yet.
    public var sequence: UInt64?
    /// Whether this is the field's current value.
    public var isCurrent: Bool
    /// Whether the write is known only from the replica's base (the snapshot it was loaded
    /// from or compacted to, `Specs/snapshots.md` §5.1): its bundle lies below the floor,
    /// so ``sequence`` is `nil` and the writes before it are not known.
    public var fromBase = false

    /// The replica that wrote it.
    public var author: ReplicaID { stamp.replica }

    /// `"Buy milk" by 3f2a9c01 at 1732200000000.0 (bundle 3)`.
    public var description: String {
        let place = fromBase ? " (before the floor)" : sequence.map { " (bundle \($0))" } ?? " (not sealed)"
        return "\(value) by \(author.shortDescription) at \(stamp.hlc)\(place)\(isCurrent ? " [current]" : "")"
    }
}

/// The writes of an LWW field this replica knows (``Replica/fieldHistory(of:record:in:)``),
/// and whether history before its floor is gone.
///
/// ```swift
/// let history = try await replica.fieldHistory(of: "title", record: id, in: "todos")
/// if history.truncatedBefore != nil { print("older writes were compacted away") }
/// ```
public struct FieldHistory: Hashable, Sendable {
    /// The writes, oldest first: those of the bundles the log holds and unsealed local
    /// writes, preceded (on a replica with a floor) by the write the base shows when the
    /// log does not hold its bundle (``FieldWrite/fromBase``).
    public var writes: [FieldWrite]
    /// The id of the snapshot this replica was loaded from or compacted to (`Specs/snapshots.md`
    /// §5.1) when it has one: writes below it are not known, except the one the base shows;
    /// `nil` when the replica holds its whole log.
    public var truncatedBefore: Digest32?
}
