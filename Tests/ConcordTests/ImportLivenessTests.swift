import Concord
import ConcordCore
import ConcordCrypto
import Testing

/// Chains must never stall for good. Both cases were found in review of the fuzzing work;
/// each test stays forever.
@Suite struct ImportLivenessTests {
    /// A held bundle whose release failed (the receiver's clock had stepped back, so the
    /// bundle's clock was too far ahead) used to stay held forever: re-importing it said
    /// "duplicate" and the author's chain never advanced again.
    @Test func aHeldBundleThatCouldNotBeReleasedAppliesWhenImportedAgain() throws {
        let time = ManualClock(milliseconds: t0)
        let s = space(5, encrypted: false)
        var alice = Device(writer(1, of: s), time: time)
        let b1 = try alice.seal([alice.set("n", 1)])
        time.advance(by: 360_000)
        let b2 = try alice.seal([alice.set("n", 2)])

        let bobTime = ManualClock(milliseconds: t0 + 360_000)
        var bob = Device(writer(2, of: s), time: bobTime)
        #expect(bob.receive(b2) == .held(waitingFor: 1))
        bobTime.set(milliseconds: t0 + 30_000)  // bob's clock steps back: b2 is now 5.5 min ahead
        #expect(bob.receive(b1) == .applied([b1.id]))
        #expect(bob.log.heldCount == 1)
        bobTime.set(milliseconds: t0 + 3_600_000)  // clock fixed
        #expect(bob.receive(b2) == .applied([b2.id]))
        #expect(bob.log.versionVector[alice.key] == 2 && bob.log.heldCount == 0)
        #expect(bob.replica.state == alice.replica.state)
        let b3 = try alice.seal([alice.set("n", 3)])
        #expect(bob.receive(b3) == .applied([b3.id]))
    }

    /// A forking author: its bundle f2 (built on a stray f1) arrives first and is held; the
    /// real b2 then arrives as a fork because the place is taken. When b1 applies, f2 does
    /// not link, and b2 used to stay quarantined too: the chain stalled at 1 for good while
    /// a device that saw the bundles in order applied b2 and b3.
    @Test func aQuarantinedBundleThatExtendsTheChainReplacesAHeldFork() throws {
        let time = ManualClock(milliseconds: t0)
        let s = space(5, encrypted: false)
        var alice = Device(writer(1, of: s), time: time)
        let b1 = try alice.seal([alice.set("n", 1)])
        let b2 = try alice.seal([alice.set("n", 2)])
        let b3 = try alice.seal([alice.set("n", 3)])
        let f1 = try alice.membership.seal([alice.set("n", 11)], previous: nil)
        let f2 = try alice.membership.seal([alice.set("n", 12)], previous: f1)

        var bob = Device(writer(2, of: s), time: time)
        #expect(bob.receive(f2) == .held(waitingFor: 1))
        #expect(bob.receive(b2) == .fork(author: alice.key, sequence: 2))
        #expect(bob.receive(b1) == .applied([b1.id, b2.id]))
        #expect(bob.receive(b3) == .applied([b3.id]))
        #expect(bob.log.quarantined == [f2])

        var carol = Device(writer(3, of: s), time: time)
        for bundle in [b1, b2, b3, f2] { _ = carol.receive(bundle) }
        #expect(carol.replica.state == bob.replica.state)
        #expect(carol.log.versionVector == bob.log.versionVector)
    }
}
