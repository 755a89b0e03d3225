import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// The resurrection guard's decision (`Specs/crdt-semantics.md` §11.4, `Specs/snapshots.md`
/// §2 item 2), case by case: who is guarded and who is not.
@Suite("Resurrection guard: the decision")
struct ResurrectionGuardTests {
    let admin = identity(1).publicKey
    let away = identity(2).publicKey
    let counted = identity(3).publicKey

    /// An admin's checkpoint: the admin's delete (admin, 5) is stable; it had seen the away
    /// device up to 3 and the counted writer up to 9.
    var checkpoint: ResurrectionGuard.Checkpoint {
        .init(
            stable: VersionVector([admin: 6, away: 3, counted: 8]),
            seen: VersionVector([admin: 7, away: 3, counted: 9]))
    }
    var delete: ResurrectionGuard.DeleteBundle { .init(author: admin, sequence: 5) }

    @Test("a returning device's write sealed without a checkpointed delete is dropped")
    func awayWriteIsDropped() {
        let guarded = ResurrectionGuard(checkpoints: [checkpoint])
        #expect(guarded.drops(author: away, sequence: 4, context: VersionVector([admin: 4, away: 3]), delete: delete))
        // Its context with its own entry k − 1, whatever it says about itself.
        #expect(guarded.drops(author: away, sequence: 4, context: VersionVector([admin: 2]), delete: delete))
    }

    @Test("not guarded: a bundle that saw the delete, one the admin had seen, a delete not yet stable, no checkpoint")
    func notGuarded() {
        let guarded = ResurrectionGuard(checkpoints: [checkpoint])
        // Sealed after seeing the delete: it edits the record on purpose (crdt-semantics §5).
        #expect(!guarded.drops(author: away, sequence: 4, context: VersionVector([admin: 5]), delete: delete))
        // A bundle at or below R_C: the admin had seen it when it checkpointed.
        #expect(!guarded.drops(author: away, sequence: 3, context: VersionVector([admin: 1]), delete: delete))
        // A counted member's bundle above R_C always includes S_C.
        #expect(!guarded.drops(author: counted, sequence: 10, context: VersionVector([admin: 7, counted: 9]), delete: delete))
        // The delete is above S_C: concurrent update rules apply (the record may revive).
        #expect(!guarded.drops(author: away, sequence: 4, context: VersionVector(), delete: .init(author: admin, sequence: 7)))
        // No checkpoint: nothing is guarded.
        #expect(!ResurrectionGuard(checkpoints: []).drops(author: away, sequence: 4, context: VersionVector(), delete: delete))
        #expect(!ResurrectionGuard(checkpoints: []).isActive)
    }

    @Test("any one checkpoint suffices; the order of checkpoints does not matter")
    func anyCheckpoint() {
        let early = ResurrectionGuard.Checkpoint(stable: VersionVector([admin: 1]), seen: VersionVector([admin: 2, away: 1]))
        let a = ResurrectionGuard(checkpoints: [early, checkpoint])
        let b = ResurrectionGuard(checkpoints: [checkpoint, early])
        for k in UInt64(1)...6 {
            let context = VersionVector([admin: 4])
            #expect(
                a.drops(author: away, sequence: k, context: context, delete: delete)
                    == b.drops(author: away, sequence: k, context: context, delete: delete))
        }
        // Only the early checkpoint: the delete (5) was not stable then.
        #expect(!ResurrectionGuard(checkpoints: [early]).drops(author: away, sequence: 4, context: VersionVector(), delete: delete))
    }

    @Test("filter: sets and adds on the deleted record are dropped; removes, deletes and other records apply")
    func filterSplitsABundle() {
        let guarded = ResurrectionGuard(checkpoints: [checkpoint])
        let by = ReplicaID(DeviceID(away))
        let ops = [
            op(.set(field: "title", value: "old edit"), by: by, at: 10),
            op(.add(field: "tags", value: "late"), by: by, at: 11),
            op(.remove(field: "tags", value: "x", observed: []), by: by, at: 12),
            op(.set(field: "title", value: "live"), by: by, at: 13, record: other),
            op(.delete, by: by, at: 14),
        ]
        let (kept, dropped) = guarded.filter(ops, author: away, sequence: 4, context: VersionVector([admin: 4])) { _, id in
            id == todo ? delete : nil
        }
        #expect(dropped.map(\.stamp) == ops[0...1].map(\.stamp))
        #expect(kept.map(\.stamp) == ops[2...4].map(\.stamp))
        // Without checkpoints, everything applies.
        #expect(
            ResurrectionGuard(checkpoints: []).filter(ops, author: away, sequence: 4, context: VersionVector()) { _, _ in delete }.dropped
                .isEmpty)
    }
}
