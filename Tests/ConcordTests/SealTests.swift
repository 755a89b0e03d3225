import ConcordTesting
import Testing
import ConcordCore
import ConcordCrypto
@testable import Concord
@testable import ConcordProtocol

@Suite struct SealTests {
    let me = ReplicaID(bytes: [UInt8](repeating: 1, count: 32))!
    let them = ReplicaID(bytes: [UInt8](repeating: 2, count: 32))!

    @Test func lastWriteOfAFieldWins() {
        let ops = [
            op(.set(field: "title", value: "a"), by: me, at: 1),
            op(.set(field: "done", value: false), by: me, at: 2),
            op(.set(field: "title", value: "b"), by: me, at: 3),
            op(.set(field: "title", value: "c"), by: me, at: 4),
            op(.set(field: "title", value: "x"), by: me, at: 4, record: other),
        ]
        #expect(OperationCoalescer.coalesce(ops) == [ops[1], ops[3], ops[4]])
        // Last by stamp, not by position.
        #expect(OperationCoalescer.coalesce([ops[3], ops[0]]) == [ops[3]])
    }

    @Test func setNamesAreComparedByteForByte() {
        let nfc = op(.set(field: "é", value: 1), by: me, at: 1)
        let nfd = op(.set(field: "e\u{301}", value: 2), by: me, at: 2)
        #expect(OperationCoalescer.coalesce([nfc, nfd]) == [nfc, nfd])
    }

    @Test func orSetOperationsAreKeptAndDuplicatesDropped() {
        let add = op(.add(field: "tags", value: "x"), by: me, at: 1)
        let remove = op(.remove(field: "tags", value: "x", observed: [add.stamp]), by: me, at: 2)
        let again = op(.add(field: "tags", value: "x"), by: me, at: 3)
        #expect(OperationCoalescer.coalesce([add, remove, again, add]) == [add, remove, again])
    }

    @Test func aDeletePrunesEarlierOperationsOfItsRecord() {
        let title = op(.set(field: "title", value: "a"), by: me, at: 1)
        let tag = op(.add(field: "tags", value: "x"), by: me, at: 2)
        let untag = op(.remove(field: "tags", value: "x", observed: [tag.stamp]), by: me, at: 3)
        let firstDelete = op(.delete, by: me, at: 4)
        let elsewhere = op(.set(field: "title", value: "kept"), by: me, at: 5, record: other)
        let delete = op(.delete, by: me, at: 6)
        let revive = op(.set(field: "done", value: true), by: me, at: 7)
        // A write after the delete carries the last-write stamp: everything before goes.
        #expect(OperationCoalescer.coalesce([title, tag, untag, firstDelete, elsewhere, delete, revive]) == [elsewhere, delete, revive])
        // Without one, the newest constructive write before the delete is kept for it.
        #expect(OperationCoalescer.coalesce([title, tag, untag, firstDelete, delete]) == [tag, delete])
    }

    /// Coalescing never changes the result: the full CRDT state (hidden parts included)
    /// after applying the batch equals the state after applying the coalesced batch, from
    /// an empty state and from a state with concurrent writes of another replica.
    @Test(arguments: 0..<200)
    func coalescingPreservesTheExactState(seed: UInt64) {
        var rng = SeededGenerator(seed: 0xC0A1_E5CE + seed)
        var adds: [Stamp] = []
        func random(by replica: ReplicaID, count: Int) -> [RecordOperation] {
            (0..<count).map { _ in
                let record = [todo, other].randomElement(using: &rng)!
                let field = ["a", "b"].randomElement(using: &rng)!
                let value = Value.int(Int64.random(in: 0..<3, using: &rng))
                let at = UInt64.random(in: 0..<40, using: &rng)
                let counter = UInt16.random(in: 0..<3, using: &rng)
                let action: RecordOperation.Action
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<4: action = .set(field: field, value: value)
                case 4..<6: action = .add(field: field, value: value)
                case 6..<8: action = .remove(field: field, value: value, observed: adds.filter { _ in Bool.random(using: &rng) })
                default: action = .delete
                }
                let result = op(action, by: replica, at: at, counter: counter, record: record)
                if case .add = action { adds.append(result.stamp) }
                return result
            }
        }
        let prior = random(by: them, count: Int.random(in: 0..<12, using: &rng))
        let batch = random(by: me, count: Int.random(in: 1..<25, using: &rng))
        let coalesced = OperationCoalescer.coalesce(batch)
        #expect(coalesced.count <= batch.count)
        #expect(state(batch) == state(coalesced), "seed \(seed)")
        #expect(state(prior + batch) == state(prior + coalesced), "seed \(seed)")
        #expect(state(batch + prior) == state(prior + coalesced.reversed()), "seed \(seed)")
    }

    @Test func sealChecksRoleAuthorAndChain() throws {
        let home = space(5)
        let alice = writer(1, of: home)
        let bob = writer(2, of: home)
        let mine = op(.set(field: "title", value: "x"), by: alice.replicaID, at: 0)
        expectError(.emptyBundle) { try alice.seal([], previous: nil) }
        expectError(.authorMismatch) { try alice.seal([mine, op(.delete, by: bob.replicaID, at: 1)], previous: nil) }
        expectError(.chainMismatch) { try alice.seal([mine], previous: bob.seal([op(.delete, by: bob.replicaID, at: 1)], previous: nil)) }
        expectError(.chainMismatch) { try alice.seal([mine], previous: writer(1, of: space(6)).seal([mine], previous: nil)) }
        let reader = try Membership.join(alice.readerInvite(issuedAt: t0), device: identity(3), issuedAt: t0)
        expectError(.notAWriter) { try reader.seal([op(.delete, by: reader.replicaID, at: 0)], previous: nil) }
        expectError(.bundleTooLarge) { try alice.seal([mine], previous: nil, limits: BundleLimits(maxBundleBytes: 100)) }
    }

    @Test func sealingBuildsAHashChainAndCoalesces() throws {
        let alice = writer(1, of: space(5))
        var log = BundleLog()
        let first = try alice.seal([op(.set(field: "title", value: "a"), by: alice.replicaID, at: 0)], appendingTo: &log)
        let writes = (1...3).map { op(.set(field: "title", value: .int(Int64($0))), by: alice.replicaID, at: UInt64($0)) }
        let second = try alice.seal(writes, appendingTo: &log)
        #expect(first.sequence == 1 && first.previous == .zero)
        #expect(second.sequence == 2 && second.previous == first.id)
        #expect(log.head(of: alice.device.publicKey) == BundleLog.ChainHead(sequence: 2, id: second.id, mark: second.hlcRange.upperBound))
        #expect(second.hlcRange == writes[2].stamp.hlc...writes[2].stamp.hlc)
        #expect(try alice.operations(in: second) == [writes[2]])
        try BundleVerifier(spaceID: alice.spaceID, physicalClock: FixedClock(milliseconds: t0)).verify(second)
        expectError(.chainMismatch) { try log.appendSealed(first) }
    }

    /// `seal(_:appendingTo:)` records the log's version vector without the sealing device
    /// as the causal context: contiguous chains only (a held bundle does not count), and a
    /// peer's later bundle acknowledges what it pulled.
    @Test func sealingThroughALogRecordsItsVersionVectorWithoutItself() throws {
        let home = space(5)
        let time = ManualClock(milliseconds: t0)
        var alice = Device(writer(1, of: home), time: time)
        var bob = Device(writer(2, of: home), time: time)
        var carol = Device(writer(3, of: home), time: time)
        let b1 = try bob.seal([bob.set("title", "b1")])
        let b2 = try bob.seal([bob.set("title", "b2")])
        let b3 = try bob.seal([bob.set("title", "b3")])
        let c1 = try carol.seal([carol.set("done", true)])
        func context(_ bundle: ChangeBundle) throws -> VersionVector { try alice.membership.contents(of: bundle).context }

        let first = try alice.seal([alice.set("n", 1)])
        #expect(try context(first) == VersionVector())
        #expect(alice.receive(b1) == .applied([b1.id]))
        #expect(alice.receive(b3) == .held(waitingFor: 2))
        #expect(alice.receive(c1) == .applied([c1.id]))
        #expect(alice.log.versionVector == VersionVector([alice.key: 1, bob.key: 1, carol.key: 1]))
        let second = try alice.seal([alice.set("n", 2)])
        #expect(try context(second) == VersionVector([bob.key: 1, carol.key: 1]))

        #expect(alice.receive(b2) == .applied([b2.id, b3.id]))
        let third = try alice.seal([alice.set("n", 3)])
        #expect(try context(third) == VersionVector([bob.key: 3, carol.key: 1]))

        // Bob pulls from Alice: his next bundle acknowledges her three bundles and Carol's.
        #expect(bob.pull(from: alice).allSatisfy { $0.error == nil })
        let b4 = try bob.seal([bob.set("title", "b4")])
        #expect(try context(b4) == VersionVector([alice.key: 3, carol.key: 1]))
        #expect(try context(b4)[alice.key] >= third.sequence)
    }

    @Test func payloadIsEncryptedOnlyInAnEncryptedSpace() throws {
        let milk = Array("Buy milk".utf8)
        for encrypted in [true, false] {
            let alice = writer(1, of: space(5, encrypted: encrypted))
            let bundle = try alice.seal([op(.set(field: "title", value: "Buy milk"), by: alice.replicaID, at: 0)], previous: nil)
            #expect(bundle.isEncrypted == encrypted)
            let containsPlaintext = bundle.bytes.indices.dropLast(milk.count - 1).contains { Array(bundle.bytes[$0..<$0 + milk.count]) == milk }
            #expect(containsPlaintext == !encrypted)
            #expect(try alice.operations(in: bundle).count == 1)
        }
    }
}

/// The state after applying `ops` to an empty state.
func state(_ ops: [RecordOperation]) -> ReplicaState {
    var s = ReplicaState()
    s.apply(contentsOf: ops)
    return s
}
