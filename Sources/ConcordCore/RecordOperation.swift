/// One change to a record, as a value: the unit that replicas apply and exchange.
///
/// Every operation carries the ``Stamp`` of the event that made it. An ``Action/add(field:value:)``
/// uses its stamp as the OR-set tag, so tags are unique without extra bookkeeping.
///
/// ```swift
/// let op = RecordOperation(stamp: stamp, collection: "todos", record: id,
///                    action: .set(field: "title", value: "Buy milk"))
/// state.apply(op)
/// ```
public struct RecordOperation: Sendable, CustomStringConvertible {
    /// What an operation does to its record.
    public enum Action: Sendable {
        /// Writes `value` to the LWW register `field`.
        case set(field: String, value: Value)
        /// Adds `value` to the OR-set `field`, tagged with the operation's stamp.
        case add(field: String, value: Value)
        /// Removes the observed tags of `value` from the OR-set `field`.
        case remove(field: String, value: Value, observed: [Stamp])
        /// Deletes the record: hides every field write and set tag stamped at or before this
        /// operation (see `Specs/crdt-semantics.md`).
        case delete
    }

    /// The event that made this operation.
    public var stamp: Stamp
    /// The collection holding the record.
    public var collection: String
    /// The record's id.
    public var record: RecordID
    /// The change.
    public var action: Action

    /// Creates an operation.
    public init(stamp: Stamp, collection: String, record: RecordID, action: Action) {
        self.stamp = stamp
        self.collection = collection
        self.record = record
        self.action = action
    }

    /// The field this operation touches; `nil` for a delete.
    public var field: String? {
        switch action {
        case .set(let field, _), .add(let field, _), .remove(let field, _, _): field
        case .delete: nil
        }
    }

    public var description: String {
        let target = "\(collection)/\(record.uuidString.prefix(8))"
        switch action {
        case let .set(field, value): return "\(stamp) set \(target).\(field) = \(value)"
        case let .add(field, value): return "\(stamp) add \(value) to \(target).\(field)"
        case let .remove(field, value, observed): return "\(stamp) remove \(value) from \(target).\(field) (\(observed.count) tags)"
        case .delete: return "\(stamp) delete \(target)"
        }
    }
}

extension RecordOperation.Action: Hashable {
    /// Byte-exact equality on names (see ``Value``).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case let (.set(f1, v1), .set(f2, v2)), let (.add(f1, v1), .add(f2, v2)):
            return ByteString(f1) == ByteString(f2) && v1 == v2
        case let (.remove(f1, v1, o1), .remove(f2, v2, o2)):
            return ByteString(f1) == ByteString(f2) && v1 == v2 && o1 == o2
        case (.delete, .delete):
            return true
        default:
            return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case let .set(f, v): hasher.combine(0); hasher.combine(ByteString(f)); hasher.combine(v)
        case let .add(f, v): hasher.combine(1); hasher.combine(ByteString(f)); hasher.combine(v)
        case let .remove(f, v, o): hasher.combine(2); hasher.combine(ByteString(f)); hasher.combine(v); hasher.combine(o)
        case .delete: hasher.combine(3)
        }
    }
}

extension RecordOperation: Hashable {
    public static func == (lhs: RecordOperation, rhs: RecordOperation) -> Bool {
        lhs.stamp == rhs.stamp && lhs.record == rhs.record
            && ByteString(lhs.collection) == ByteString(rhs.collection) && lhs.action == rhs.action
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(stamp)
        hasher.combine(record)
        hasher.combine(ByteString(collection))
        hasher.combine(action)
    }
}
