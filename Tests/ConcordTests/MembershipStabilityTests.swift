import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// `ack`, `stale` and `checkpoint` through real control bundles (`Specs/snapshots.md` §2,
/// §3): the builders refuse what the evaluation would void, with messages that say why;
/// an ack after a stale mark clears it; a checkpoint of the admin's stable cut makes a
/// later forced removal keep the final bundles.
@Suite struct MembershipStabilityTests {
    let time = ManualClock(milliseconds: t0)

    /// An admin and a writer that wrote twice; both hold everything.
    func space(encrypted: Bool) throws -> (admin: MemberDevice, tablet: MemberDevice) {
        var admin = try MemberDevice.create(name: "office", encrypted: encrypted, time: time)
        let token = try admin.invite(.writer)
        time.advance(by: 10)
        var tablet = try MemberDevice.join(token, name: "tablet", time: time)
        tablet.pull(from: admin)
        try tablet.write("first")
        try tablet.write("second")
        admin.pull(from: tablet)
        return (admin, tablet)
    }

    @Test(arguments: [true, false])
    func ackClearsAStaleMarkMadeBeforeIt(encrypted: Bool) throws {
        var (admin, tablet) = try space(encrypted: encrypted)
        _ = try admin.control(try admin.membership.markStale(tablet.key, reason: .admin, state: admin.state, log: admin.log))
        let mark = try #require(admin.state.member(tablet.key)?.staleSince)
        #expect(mark.reason == .admin && mark.lastSeen == 3)
        tablet.pull(from: admin)
        let ack = try tablet.control(try tablet.membership.acknowledge(state: tablet.state, log: tablet.log))
        admin.pull(from: tablet)
        let member = try #require(admin.state.member(tablet.key))
        #expect(member.staleSince == nil && member.lastAck?.sequence == ack.sequence)
        #expect(member.lastAck?.vector[admin.key] == admin.log.versionVector[admin.key])
        #expect(admin.state.voidOps.isEmpty)
    }

    @Test func buildersRefuseWhatTheEvaluationWouldVoid() throws {
        var (admin, tablet) = try space(encrypted: false)
        let stranger = Identity().publicKey
        #expect(throws: ConcordError.self) {
            try tablet.membership.markStale(admin.key, reason: .admin, state: tablet.state, log: tablet.log)
        }
        #expect(throws: ConcordError.self) { try admin.membership.markStale(stranger, reason: .policy, state: admin.state, log: admin.log) }
        #expect(throws: ConcordError.self) {
            try tablet.membership.checkpoint(stable: VersionVector(), state: tablet.state, log: tablet.log)
        }
        do {
            _ = try admin.membership.checkpoint(stable: VersionVector([tablet.key: 9]), state: admin.state, log: admin.log)
            Issue.record("a checkpoint above what the admin holds was built")
        } catch let error as ConcordError {
            #expect(error.code == .notAllowed && error.message.contains("holds only 3"))
        }
        do {
            _ = try tablet.membership.markStale(admin.key, reason: .admin, state: tablet.state, log: tablet.log)
            Issue.record("a writer built a stale op")
        } catch let error as ConcordError {
            #expect(error.message.contains("only admins may mark devices stale; this device is a writer"))
        }
        // A removed device cannot acknowledge.
        _ = try admin.remove(tablet.key)
        tablet.pull(from: admin)
        #expect(throws: ConcordError.self) { try tablet.membership.acknowledge(state: tablet.state, log: tablet.log) }
    }

    @Test func aCheckpointKeepsFinalBundlesThroughAForcedRemoval() throws {
        var (admin, tablet) = try space(encrypted: false)
        var tracker = StabilityTracker()
        // Both acknowledged everything the admin holds.
        _ = try tablet.control(try tablet.membership.acknowledge(state: tablet.state, log: tablet.log))
        admin.pull(from: tablet)
        let held = admin.log.versionVector
        tracker.record(.init(author: admin.key, sequence: held[admin.key], context: held))
        let cut = tracker.stableCut(membership: admin.state, held: held)
        #expect(tracker.countedMembers(membership: admin.state, held: held).sorted() == [admin.key, tablet.key].sorted())
        #expect(cut == VersionVector([admin.key: 2, tablet.key: 4]))
        _ = try admin.control(try admin.membership.checkpoint(stable: cut, state: admin.state, log: admin.log))
        #expect(admin.state.member(tablet.key)?.finalThrough == cut[tablet.key])
        // A forced cut-off of 1 below the checkpoint: the final bundles stay.
        _ = try admin.control(.remove(target: tablet.key, cutoff: 1, keep: [], epoch: nil))
        let member = try #require(admin.state.member(tablet.key))
        #expect(member.removals.map(\.cutoff) == [1] && member.cut?.cutoff == cut[tablet.key])
        #expect(admin.state.admission(author: tablet.key, sequence: 3, isControl: false) == .applied)
        #expect(admin.state.admission(author: tablet.key, sequence: 5, isControl: false) != .applied)
    }
}
