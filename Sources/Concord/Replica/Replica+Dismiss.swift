import ConcordCore
import ConcordCrypto
import ConcordStore

/// Saying "seen" to a problem whose remedy is to review: the changes it lists stop being
/// reported; new ones are reported again.
extension Replica {
    /// Stops reporting the changes a ``ReplicaProblem/Remedy/review`` problem lists now:
    /// ``ReplicaProblem/Kind/writesDeniedByPolicy`` (changes the policy denied) or
    /// ``ReplicaProblem/Kind/writesDroppedAfterAbsence`` (changes to records deleted while the
    /// device was away). Nothing is applied, undone or shared: the changes stay in this
    /// device's chain, applied nowhere, as before. A change denied or dropped later (a new
    /// write, or a policy or checkpoint that arrives later and covers an older one) is reported
    /// again. Also `concord dismiss KIND`.
    ///
    /// ```swift
    /// for problem in try await replica.problems() where problem.remedy == .review {
    ///     showReview(problem.message)                // the records, dates and values
    ///     try await replica.dismissProblem(problem.kind)
    /// }
    /// ```
    /// - Parameter kind: `.writesDeniedByPolicy` or `.writesDroppedAfterAbsence`.
    /// - Returns: How many changes were dismissed (0 when the problem was not reported).
    /// - Throws: `ConcordError` `.notAllowed` for a problem that only its remedy clears (a
    ///   clock, a fork: they go away once fixed); `.storage`.
    @discardableResult
    public func dismissProblem(_ kind: ReplicaProblem.Kind) throws -> Int {
        guard kind == .writesDeniedByPolicy || kind == .writesDroppedAfterAbsence else {
            throw ConcordError(
                .notAllowed,
                "The \(kind) problem cannot be dismissed: it goes away once its remedy is applied (`concord status` says which).")
        }
        return try ConcordError.storage {
            try store.write { tx in
                let key = Self.dismissedKey(kind)
                let current = kind == .writesDeniedByPolicy ? try ownDenialKeys(in: tx) : try droppedOwnWriteKeys(in: tx)
                let before = try Self.dismissed(kind, in: tx)
                let added = current.subtracting(before)
                guard !added.isEmpty else { return 0 }
                try tx.setMetadata(Array(before.union(added).sorted().joined(separator: "\n").utf8), for: key)
                return added.count
            }
        }
    }

    static func dismissedKey(_ kind: ReplicaProblem.Kind) -> String { "problems.dismissed.\(kind)" }

    /// The keys of the changes of `kind` dismissed so far.
    static func dismissed(_ kind: ReplicaProblem.Kind, in tx: any StoreReader) throws -> Set<String> {
        guard let bytes = try tx.metadata(dismissedKey(kind)), !bytes.isEmpty else { return [] }
        return Set(String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init))
    }

    /// One denied op of this device, named by its bundle and place (stable across rebuilds).
    static func denialKey(_ row: StoredDenial) -> String {
        "\(row.bundleID.hex):\(row.section):\(row.index)"
    }

    /// One dropped write, named by its bundle position and op (stable across rebuilds).
    static func droppedKey(_ op: GuardedOperation) -> String {
        "\(op.sequence):\(op.operation.stamp.hlc.rawValue):\(op.collection):\(op.record)"
    }

    func ownDenialKeys(in tx: any StoreReader) throws -> Set<String> {
        guard membership.isMemberFormat else { return [] }
        let me = membership.device.publicKey
        return Set(
            try tx.permissionDenials(ofBundle: nil).filter { $0.author == me }
                .map(Self.denialKey))
    }

    func droppedOwnWriteKeys(in tx: any StoreReader) throws -> Set<String> {
        Set(try droppedOwnWrites(in: tx).map(Self.droppedKey))
    }
}
