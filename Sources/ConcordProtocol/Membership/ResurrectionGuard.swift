import ConcordCore
import ConcordCrypto

/// The resurrection guard of `Specs/crdt-semantics.md` §11.4 as a pure decision: a `set` or
/// `add` in bundle `(A, k)` on a record whose greatest delete `D` was carried by bundle
/// `(Q, q)` is dropped when, for some applied checkpoint `C = (S_C, R_C)`,
///
/// ```text
/// k > R_C[A]   and   q ≤ S_C[Q]   and   context[Q] < q   (the context with A's own entry k − 1)
/// ```
///
/// that is: the delete was stable when an admin checkpointed, and the writer's bundle is one
/// the admin had not seen and was sealed without the delete. Counted members' bundles above
/// `R_C` always include `S_C`, so only devices that were away (stale) are affected. Removes
/// and deletes are never guarded. The decision uses only the checkpoints, the bundle's
/// position and context and the record's delete, which every member holds alike.
///
/// ```swift
/// let resurrectionGuard = ResurrectionGuard(state: membershipState)
/// let (kept, dropped) = resurrectionGuard.filter(contents.operations, author: bundle.author,
///                                               sequence: bundle.sequence, context: contents.context) { collection, id in
///     store.deleteBundle(of: id, in: collection)          // (Q, q) of the record's greatest delete
/// }
/// ```
public struct ResurrectionGuard: Hashable, Sendable {
    /// The parts of a checkpoint the guard reads.
    public struct Checkpoint: Hashable, Sendable {
        /// `S_C`: the issuing admin's stable cut.
        public let stable: VersionVector
        /// `R_C`: the issuing admin's held vector.
        public let seen: VersionVector

        /// A checkpoint.
        /// - Parameters:
        ///   - stable: `S_C`.
        ///   - seen: `R_C`.
        public init(stable: VersionVector, seen: VersionVector) {
            self.stable = stable
            self.seen = seen
        }
    }

    /// The position of the bundle that carried a record's greatest delete.
    public struct DeleteBundle: Hashable, Sendable {
        /// `Q`: the delete's author.
        public let author: PublicKey
        /// `q`: the bundle's sequence in `Q`'s chain.
        public let sequence: UInt64

        /// A delete's bundle position.
        /// - Parameters:
        ///   - author: The delete's author.
        ///   - sequence: Its bundle's sequence.
        public init(author: PublicKey, sequence: UInt64) {
            self.author = author
            self.sequence = sequence
        }
    }

    /// The applied checkpoints, in any order (the decision is an "exists").
    public let checkpoints: [Checkpoint]

    /// A guard over these checkpoints.
    /// - Parameters:
    ///   - checkpoints: The applied checkpoints.
    public init(checkpoints: [Checkpoint]) {
        self.checkpoints = checkpoints
    }

    /// The guard of an evaluated membership state: its applied checkpoints.
    /// - Parameters:
    ///   - state: The membership state.
    public init(state: MembershipState) {
        self.init(checkpoints: state.checkpoints.map { Checkpoint(stable: $0.stable, seen: $0.seen) })
    }

    /// Whether the guard can drop anything at all (some checkpoint is applied).
    public var isActive: Bool { !checkpoints.isEmpty }

    /// Whether a `set` or `add` in bundle `(author, sequence)`, sealed with `context`, on a
    /// record whose greatest delete was carried by `delete`, is dropped.
    /// - Parameters:
    ///   - author: `A`, the bundle's author.
    ///   - sequence: `k`, its sequence (≥ 1).
    ///   - context: Its causal context; `A`'s own entry is taken as `k − 1`.
    ///   - delete: `(Q, q)`.
    /// - Complexity: O(checkpoints).
    public func drops(author: PublicKey, sequence: UInt64, context: VersionVector, delete: DeleteBundle) -> Bool {
        var seen = context
        seen[author] = sequence - 1
        guard seen[delete.author] < delete.sequence else { return false }
        return checkpoints.contains { sequence > $0.seen[author] && delete.sequence <= $0.stable[delete.author] }
    }

    /// Whether some checkpoint makes `delete` stable (`q ≤ S_C[Q]`): only then can a write
    /// to its record be dropped, so only then does a change of the record's greatest delete
    /// from or to it change decisions.
    /// - Parameters:
    ///   - delete: `(Q, q)`.
    public func covers(_ delete: DeleteBundle) -> Bool {
        checkpoints.contains { delete.sequence <= $0.stable[delete.author] }
    }

    /// Whether some checkpoint had not seen bundle `(author, sequence)` (`k > R_C[A]`): only
    /// such a bundle's writes can be dropped.
    /// - Parameters:
    ///   - author: `A`.
    ///   - sequence: `k`.
    public func mayDrop(author: PublicKey, sequence: UInt64) -> Bool {
        checkpoints.contains { sequence > $0.seen[author] }
    }

    /// Splits a data bundle's operations into those that apply and those the guard drops.
    /// - Parameters:
    ///   - operations: The bundle's operations.
    ///   - author: The bundle's author.
    ///   - sequence: Its sequence.
    ///   - context: Its causal context.
    ///   - deleteOf: The bundle of the record's greatest delete, `nil` when it has none, as
    ///     the record stands when the operation is reached (a greater delete earlier in the
    ///     same bundle counts; it is in the bundle's own chain, so it never guards).
    /// - Returns: The operations kept and the ones dropped, each in the given order.
    public func filter(
        _ operations: [RecordOperation], author: PublicKey, sequence: UInt64, context: VersionVector,
        deleteOf: (String, RecordID) throws -> DeleteBundle?
    ) rethrows -> (kept: [RecordOperation], dropped: [RecordOperation]) {
        guard isActive else { return (operations, []) }
        var kept: [RecordOperation] = []
        var dropped: [RecordOperation] = []
        for operation in operations {
            switch operation.action {
            case .set, .add:
                if let delete = try deleteOf(operation.collection, operation.record),
                    drops(author: author, sequence: sequence, context: context, delete: delete)
                {
                    dropped.append(operation)
                } else {
                    kept.append(operation)
                }
            case .delete, .remove:
                kept.append(operation)
            }
        }
        return (kept, dropped)
    }
}
