import ConcordCore

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

    /// The replica that wrote it.
    public var author: ReplicaID { stamp.replica }

    /// `"Buy milk" by 3f2a9c01 at 1732200000000.0 (bundle 3)`.
    public var description: String {
        "\(value) by \(author.shortDescription) at \(stamp.hlc)\(sequence.map { " (bundle \($0))" } ?? " (not sealed)")\(isCurrent ? " [current]" : "")"
    }
}
