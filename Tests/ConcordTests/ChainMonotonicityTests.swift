import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Chain monotonicity (`Specs/crdt-semantics.md` §11.2, `Specs/wire-format.md` §7.7 step
/// 11): a data bundle that does not start after its author's chain mark enters its chain
/// void, in memory, in the stores and in format 3 alike; control bundles are exempt.
@Suite struct ChainMonotonicityTests {
    let time = ManualClock(milliseconds: t0)

    func pair(encrypted: Bool = false) throws -> (Device, Device) {
        let alice = writer(1, of: space(5, encrypted: encrypted))
        let bob = try Membership.join(InviteToken(alice.writerInvite().text), device: identity(2), issuedAt: t0)
        return (Device(alice, time: time), Device(bob, time: time))
    }

    /// Alice's chain: 1 at 1000 ms (void in none), then bundles sealed with ops read at
    /// `readings` (ms after t0), each linked to the previous.
    func chain(_ alice: Device, first: UInt64 = 1_000, readings: [UInt64]) throws -> [ChangeBundle] {
        let a = alice.membership
        var bundles = [try a.seal([op(.set(field: "n", value: 1), by: a.replicaID, at: first)], previous: nil)]
        for (index, reading) in readings.enumerated() {
            let value = Value.int(Int64(index + 2))
            bundles.append(try a.seal([op(.set(field: "n", value: value), by: a.replicaID, at: reading)], previous: bundles.last))
        }
        return bundles
    }

    @Test(arguments: [false, true])
    func aBundleThatDoesNotStartAfterItsPredecessorIsVoid(encrypted: Bool) throws {
        var (alice, bob) = try pair(encrypted: encrypted)
        // 2 reads bundle 1's reading again; 3 follows properly.
        let bundles = try chain(alice, readings: [1_000, 2_000])
        #expect(bob.receive(bundles[0]) == .applied([bundles[0].id]))
        expectVoid(.chainNotMonotone, bundles[1].bytes, by: &bob)
        #expect(bob.receive(bundles[2]) == .applied([bundles[2].id]))
        #expect(bob.replica.state.record(todo, in: "todos")?["n"] == 3)
        #expect(bob.log.head(of: alice.key)?.mark == HLCTimestamp(milliseconds: t0 + 2_000, counter: 0))
        #expect(bob.log.voided.map(\.id) == [bundles[1].id])
    }

    /// The mark is the greatest reading of the earlier data bundles, not the predecessor's:
    /// a bundle after a void one that stepped back is void too unless it passes the mark.
    @Test func theMarkIsTheNewestReadingOfTheChainNotOfThePredecessor() throws {
        var (alice, bob) = try pair()
        let bundles = try chain(alice, first: 10_000, readings: [2_000, 5_000, 10_001])
        for bundle in bundles { _ = bob.receive(bundle) }
        #expect(bob.log.voided.map(\.id) == [bundles[1].id, bundles[2].id])
        #expect(bob.log.voided.allSatisfy { $0.reason.code == .chainNotMonotone })
        #expect(bob.replica.state.record(todo, in: "todos")?["n"] == 4)
        #expect(bob.log.versionVector[alice.key] == 4)
    }

    @Test func aHeldBundleReleasedByItsPredecessorIsCheckedAgainstIt() throws {
        var (alice, bob) = try pair()
        let bundles = try chain(alice, readings: [3_000, 2_500, 4_000])
        #expect(bob.receive(bundles[0]) == .applied([bundles[0].id]))
        #expect(bob.receive(bundles[2]) == .held(waitingFor: 2))
        #expect(bob.receive(bundles[3]) == .held(waitingFor: 2))
        #expect(bob.receive(bundles[1]) == .applied(bundles[1...].map(\.id)))
        #expect(bob.log.voided.map(\.id) == [bundles[2].id])
        #expect(bob.replica.state.record(todo, in: "todos")?["n"] == 4)
    }

    /// Any arrival order gives the same state and the same void bundles, on the in-memory
    /// importer and on store-backed replicas (memory and SQLite), whose chain heads keep
    /// the mark.
    @Test func storesDecideAlikeInAnyOrder() async throws {
        let (alice, bob) = try pair()
        let bundles = try chain(alice, readings: [900, 1_500, 1_200, 1_600])
        var reference = bob
        for bundle in bundles { _ = reference.receive(bundle) }
        let voidIDs = Set(reference.log.voided.map(\.id))
        #expect(voidIDs == [bundles[1].id, bundles[3].id])
        let directory = temporaryDirectory()
        for (index, order) in [bundles, bundles.reversed(), [bundles[2], bundles[0], bundles[4], bundles[1], bundles[3]]].enumerated() {
            for store in [MemoryStore(), try SQLiteStore(path: directory + "/\(index).sqlite")] as [any Store] {
                let replica = try Replica(store: store, membership: bob.membership)
                var voided: [VoidedBundle] = []
                for bundle in order { voided += try await replica.import([bundle.bytes]).voided }
                #expect(Set(voided.map(\.id)) == voidIDs)
                #expect(voided.allSatisfy { $0.reason.code == .chainNotMonotone })
                #expect(try await replica.state().digestHex == reference.replica.state.digestHex)
                let mark = try store.read { try $0.chainHead(of: alice.key)?.mark }
                #expect(mark == HLCTimestamp(milliseconds: t0 + 1_600, counter: 0))
            }
        }
    }

    /// Format 3: the rule covers data bundles only (a data bundle read before its author's
    /// join, a control bundle, applies), and a reconcile (any new membership op recomputes
    /// the state) never applies a void one.
    @Test(arguments: [false, true])
    func formatThreeControlBundlesAreExemptAndReconcilesKeepVoidBundlesVoid(encrypted: Bool) throws {
        time.set(milliseconds: t0 + 10_000)
        var admin = try MemberDevice.create(name: "admin", encrypted: encrypted, time: time)
        time.advance(by: 10)
        var tablet = try MemberDevice.join(try admin.invite(.writer), name: "tablet", time: time)
        tablet.pull(from: admin)
        admin.pull(from: tablet)
        func past(_ ms: UInt64, _ title: String) -> RecordOperation {
            RecordOperation(
                stamp: Stamp(hlc: HLCTimestamp(milliseconds: t0 + ms, counter: 0), replica: tablet.membership.replicaID),
                collection: "todos", record: todo, action: .set(field: "title", value: .string(title)))
        }
        let state = tablet.state
        // Bundle 2, the first data bundle, read before the join (bundle 1, a control bundle): applies.
        let early = try tablet.membership.sealMember([past(5_000, "before the join")], appendingTo: &tablet.log, state: state)
        // Bundle 3, read before bundle 2: void.
        let void = try tablet.membership.sealMember([past(4_000, "before that")], appendingTo: &tablet.log, state: state)
        #expect(admin.receive(early) == .applied([early.id]))
        #expect(admin.replica.state.record(todo, in: "todos")?["title"] == "before the join")
        #expect(admin.receive(void) == .applied([void.id]))
        #expect(admin.log.voided.last?.id == void.id && admin.log.voided.last?.reason.code == .chainNotMonotone)
        #expect(admin.replica.state.record(todo, in: "todos")?["title"] == "before the join")
        // A membership op makes the importer reconcile and recompute the state.
        _ = try admin.invite(.reader)
        #expect(admin.replica.state.record(todo, in: "todos")?["title"] == "before the join")
        #expect(admin.log.bundle(of: tablet.key, sequence: 3)?.id == void.id)
        #expect(admin.log.head(of: tablet.key)?.mark == HLCTimestamp(milliseconds: t0 + 5_000, counter: 0))
    }
}
