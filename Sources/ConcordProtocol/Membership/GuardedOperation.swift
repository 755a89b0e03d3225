import ConcordCore
import ConcordCrypto

/// A `set` or `add` the resurrection guard dropped (`Specs/crdt-semantics.md` §11.4,
/// `Specs/snapshots.md` §3 "is told"): its bundle's author had been away, and the record it
/// writes was deleted in a bundle that a checkpoint made stable and that the author had not
/// seen. The op stays in its author's chain and applies nowhere; it carries its value, so
/// the user can enter it again as a new record.
///
/// ```swift
/// for dropped in summary.guarded {
///     print("\(dropped.field ?? "?") of \(dropped.record) by \(dropped.author.hex.prefix(8)): not applied")
/// }
/// ```
public struct GuardedOperation: Hashable, Sendable, CustomStringConvertible {
    /// The bundle's author `A`.
    public let author: PublicKey
    /// The bundle's position `k` in its author's chain.
    public let sequence: UInt64
    /// The dropped op (its stamp, record, field and value).
    public let operation: RecordOperation
    /// The author `Q` and bundle `q` of the record's greatest delete that guarded it.
    public let delete: ResurrectionGuard.DeleteBundle

    /// A dropped op.
    /// - Parameters:
    ///   - author: The bundle's author.
    ///   - sequence: Its position.
    ///   - operation: The op.
    ///   - delete: The delete that guarded it.
    public init(author: PublicKey, sequence: UInt64, operation: RecordOperation, delete: ResurrectionGuard.DeleteBundle) {
        self.author = author
        self.sequence = sequence
        self.operation = operation
        self.delete = delete
    }

    /// The op's collection.
    public var collection: String { operation.collection }
    /// The op's record.
    public var record: RecordID { operation.record }
    /// The field it writes (`set` and `add` always name one).
    public var field: String? {
        switch operation.action {
        case .set(let field, _), .add(let field, _): field
        case .remove(let field, _, _): field
        case .delete: nil
        }
    }

    /// `set title of items/… in change 4 of device 3f2a9c01 (record deleted in change 5 of device 9e1b…)`.
    public var description: String {
        "\(field ?? "?") of \(collection)/\(record) in change \(sequence) of device \(author.hex.prefix(8)) (the record was deleted in change \(delete.sequence) of device \(delete.author.hex.prefix(8)))"
    }
}

extension ResurrectionGuard {
    /// The bundle of a record's greatest delete, from the record's state: `Q` is the delete
    /// stamp's replica, `q` its `RecordState.deleteBundle`; `nil` when the record has no
    /// delete or its bundle is not known (a pending local delete, a version-1 record).
    /// - Parameters:
    ///   - state: The record's state.
    public static func deleteBundle(of state: RecordState?) -> DeleteBundle? {
        guard let state, let deletedAt = state.deletedAt, let sequence = state.deleteBundle,
            let author = try? PublicKey(bytes: deletedAt.replica.bytes)
        else { return nil }
        return DeleteBundle(author: author, sequence: sequence)
    }
}
