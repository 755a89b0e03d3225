import ConcordCore
import ConcordCrypto
import ConcordTesting

@testable import Concord
@testable import ConcordProtocol

/// What every replica of a ``CompactionWorld`` must end with, computed from the specs, not
/// with the importer: every op of every data bundle the final membership applies (none past
/// its author's effective cut-off), except the writes the resurrection guard of
/// crdt-semantics §11.4 drops over the final checkpoints and each record's greatest delete
/// (the rule as `StaleDeviceProperties`' oracle writes it), applied to an empty state.
struct CompactionOracle {
    struct Placed {
        let author: PublicKey
        let sequence: UInt64
        let context: VersionVector
        let op: RecordOperation
    }
    struct Delete {
        let stamp: Stamp
        let author: PublicKey
        let sequence: UInt64
    }
    struct Key: Hashable {
        let collection: String
        let id: RecordID
        init(_ op: RecordOperation) {
            collection = op.collection
            id = op.record
        }
    }

    let checkpoints: [MembershipState.AppliedCheckpoint]
    let deletes: [Key: Delete]
    let kept: [Placed]
    let dropped: [Placed]
    let state: ReplicaState

    static func isWrite(_ op: RecordOperation) -> Bool {
        switch op.action {
        case .set, .add: true
        case .remove, .delete: false
        }
    }

    /// A delete at or below some checkpoint's `S_C`.
    func covered(_ delete: Delete) -> Bool { checkpoints.contains { delete.sequence <= $0.stable[delete.author] } }

    init(bundles: some Collection<ChangeBundle>, membership: MembershipState) throws {
        checkpoints = membership.checkpoints
        var placed: [Placed] = []
        for bundle in bundles where !bundle.isControl {
            if let cut = membership.member(bundle.author)?.cut, bundle.sequence > cut.cutoff { continue }
            let contents = try ChangeBundle.openData(bundle, key: nil)
            placed += contents.operations.map {
                Placed(author: bundle.author, sequence: bundle.sequence, context: contents.context, op: $0)
            }
        }
        var deletes: [Key: Delete] = [:]
        for p in placed {
            guard case .delete = p.op.action else { continue }
            if deletes[Key(p.op)].map({ p.op.stamp > $0.stamp }) ?? true {
                deletes[Key(p.op)] = Delete(stamp: p.op.stamp, author: p.author, sequence: p.sequence)
            }
        }
        var kept: [Placed] = []
        var dropped: [Placed] = []
        for p in placed {
            guard Self.isWrite(p.op), let d = deletes[Key(p.op)] else {
                kept.append(p)
                continue
            }
            let sawDelete = (d.author == p.author ? p.sequence - 1 : p.context[d.author]) >= d.sequence
            let guarded =
                !sawDelete && membership.checkpoints.contains { p.sequence > $0.seen[p.author] && d.sequence <= $0.stable[d.author] }
            if guarded { dropped.append(p) } else { kept.append(p) }
        }
        var state = ReplicaState()
        for p in kept { state.apply(p.op) }
        self.deletes = deletes
        self.kept = kept
        self.dropped = dropped
        self.state = state
    }

    /// Nothing deleted comes back: a record whose greatest delete a checkpoint covers is
    /// invisible in `state` unless a kept write stamped after the delete made it visible.
    func checkNothingDeletedCameBack(in state: ReplicaState, on device: String) throws {
        for (key, delete) in deletes where covered(delete) {
            guard let record = state.recordState(key.id, in: key.collection), record.isVisible else { continue }
            guard kept.contains(where: { Key($0.op) == key && Self.isWrite($0.op) && $0.op.stamp > delete.stamp }) else {
                throw PropertyViolation("record \(key.id) is visible on \(device) after a checkpointed delete with no write after it")
            }
        }
    }
}
