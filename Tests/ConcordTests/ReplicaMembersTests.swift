import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Format-3 replicas on disk (`Specs/membership.md`, stage 2b): members, roles and removal
/// through the public `Replica` API, bundles exchanged as a file transport would.
@Suite("Replica members (format 3)")
struct ReplicaMembersTests {
    /// Imports everything `from` holds that `to` lacks.
    func sync(_ from: Replica, to: Replica) async throws {
        try await to.import(try await from.bundles(since: try await to.versionVector()))
        // Evidence and held bundles are not in the version vector: send every control bundle too.
        try await to.import(try await from.bundles())
    }

    func title(_ replica: Replica, _ id: RecordID) async throws -> String? {
        try await replica.record(id, in: "todos")?["title"]?.stringValue
    }

    @Test("an admin invites a writer and a reader; they join, write, read; roles hold", arguments: [true, false])
    func inviteJoinWrite(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let laptop = try await Replica.create(at: dir + "/laptop", name: "Ms Dlamini's laptop", encrypted: encrypted)
        let writerToken = try await laptop.invite(role: .writer)
        let readerToken = try await laptop.invite(role: .reader)
        let tablet = try await Replica.join(try MemberInviteToken(writerToken.text), at: dir + "/tablet", name: "Amina's tablet")
        let parent = try await Replica.join(try MemberInviteToken(readerToken.text), at: dir + "/parent", name: "Parent's phone")
        // Not admitted until the invite op arrives.
        await #expect(throws: ConcordError.self) {
            try await tablet.write { try $0.set("title", to: "too early", record: todo, in: "todos") }
        }
        try await sync(laptop, to: tablet)
        try await sync(laptop, to: parent)
        #expect(try await tablet.whoami()?.role == .writer)
        try await tablet.write { try $0.set("title", to: "Buy milk", record: todo, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        try await sync(parent, to: laptop)
        try await sync(laptop, to: parent)
        #expect(try await title(laptop, todo) == "Buy milk")
        #expect(try await title(parent, todo) == "Buy milk")
        let readOnly = await #expect(throws: ConcordError.self) {
            try await parent.write { try $0.set("title", to: "mine", record: todo, in: "todos") }
        }
        #expect(readOnly?.code == .notAllowed)
        let notAdmin = await #expect(throws: ConcordError.self) { _ = try await tablet.invite(role: .writer) }
        #expect(notAdmin?.code == .notAllowed)
        let names = try await laptop.members().map(\.name).sorted()
        #expect(names == ["Amina's tablet", "Ms Dlamini's laptop", "Parent's phone"])
        #expect(try await laptop.members() == (try await parent.members()))
        // Reopened from disk, a joined replica keeps its membership and keys.
        let reopened = try Replica.open(at: dir + "/parent")
        #expect(try await title(reopened, todo) == "Buy milk")
        #expect(try await reopened.whoami()?.role == .reader)
    }

    @Test("a lost tablet is removed: its late writes are rolled back where they arrived first, refused elsewhere, and it reads nothing new")
    func lostTabletIsRemoved() async throws {
        let dir = temporaryDirectory()
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop")
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "lost tablet")
        let teacher = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/teacher", name: "teacher")
        try await sync(laptop, to: tablet)
        try await sync(laptop, to: teacher)
        try await sync(tablet, to: laptop)
        try await sync(teacher, to: laptop)
        let early = RecordID(high: 9, low: 1)
        let late = RecordID(high: 9, low: 2)
        try await tablet.write { try $0.set("title", to: "seen by the admin", record: early, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        // Offline, the tablet writes on; the teacher receives it before hearing of the removal.
        try await tablet.write { try $0.set("title", to: "after the cut", record: late, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: teacher)
        #expect(try await title(teacher, late) == "after the cut")
        try await laptop.removeMember(tablet.deviceID)
        try await sync(laptop, to: teacher)
        #expect(try await title(teacher, late) == nil)
        #expect(try await title(teacher, early) == "seen by the admin")
        // The admin refuses the late bundle outright.
        try await sync(tablet, to: laptop)
        #expect(try await title(laptop, late) == nil)
        #expect(try await laptop.state() == (try await teacher.state()))
        // The teacher writes under the new epoch; the tablet learns of its removal, cannot
        // write, and cannot read the teacher's new write.
        let fresh = RecordID(high: 9, low: 3)
        try await teacher.write { try $0.set("title", to: "after rotation", record: fresh, in: "todos") }
        try await teacher.seal()
        try await sync(teacher, to: laptop)
        try await sync(laptop, to: tablet)
        #expect(try await title(laptop, fresh) == "after rotation")
        #expect(try await title(tablet, fresh) == nil)
        let refused = await #expect(throws: ConcordError.self) {
            try await tablet.write { try $0.set("title", to: "x", record: fresh, in: "todos") }
        }
        #expect(refused?.code == .notAllowed)
        #expect(refused?.message.contains("removed from the space by laptop") == true)
        let removed = try await laptop.members().first { $0.device == tablet.deviceID.publicKey }
        #expect(removed?.status == .removed)

        // One batch, in the worst order: a new member imports the tablet's late bundle
        // before the removal, in a single import (one transaction, reconciled once at its
        // end): it ends like the others.
        let newcomer = try await Replica.join(try await laptop.invite(role: .reader), at: dir + "/newcomer", name: "newcomer")
        var batch: [[UInt8]] = []
        for try await bundle in try await tablet.bundles() { batch.append(bundle.bytes) }
        for try await bundle in try await teacher.bundles() { batch.append(bundle.bytes) }
        for try await bundle in try await laptop.bundles() { batch.append(bundle.bytes) }
        let summary = try await newcomer.import(batch)
        #expect(summary.rejected.isEmpty, "\(summary)")
        #expect(try await title(newcomer, late) == nil)
        #expect(try await title(newcomer, early) == "seen by the admin")
        #expect(try await title(newcomer, fresh) == "after rotation")
        #expect(try await newcomer.state() == (try await laptop.state()))
    }

    @Test("a mutual removal travels on in exports: a member that only imports a third member's export learns both removals")
    func evidenceTravelsInExports() async throws {
        let dir = temporaryDirectory()
        let first = try await Replica.create(at: dir + "/first", name: "first admin", encrypted: false)
        let second = try await Replica.join(try await first.invite(role: .admin), at: dir + "/second", name: "second admin")
        let carrier = try await Replica.join(try await first.invite(role: .writer), at: dir + "/carrier", name: "carrier")
        let bystander = try await Replica.join(try await first.invite(role: .reader), at: dir + "/bystander", name: "bystander")
        for device in [second, carrier, bystander] { try await sync(first, to: device) }
        for device in [second, carrier, bystander] { try await sync(device, to: first) }
        try await sync(first, to: second)
        // Offline, each admin removes the other; the carrier meets both.
        try await first.removeMember(second.deviceID)
        try await second.removeMember(first.deviceID)
        try await carrier.import(try await first.bundles())
        try await carrier.import(try await second.bundles())
        let carried = try await carrier.members().filter { $0.role == .admin }.map(\.status)
        #expect(carried == [.removed, .removed], "\(carried)")
        // The bystander sees only the carrier's export, which carries the evidence.
        try await bystander.import(try await carrier.bundles())
        #expect(try await bystander.members() == (try await carrier.members()))
    }

    @Test(
        "a copied tablet continues under a successor device: same role and name, its unsynced writes re-issued, the old chain retired",
        arguments: [true, false])
    func recoverContinuesUnderASuccessor(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", encrypted: encrypted)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "Amina's tablet")
        try await sync(laptop, to: tablet)
        try await tablet.write { try $0.set("title", to: "before", record: todo, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        let other = RecordID(high: 7, low: 7)
        try await tablet.write { try $0.set("title", to: "unsynced", record: other, in: "todos") }

        let recovery = try await tablet.recover()
        let next = recovery.replica
        #expect(next.deviceID != tablet.deviceID)
        #expect(recovery.reissuedOperations >= 1, "\(recovery)")
        #expect(try await next.whoami()?.role == .writer)
        #expect(try await next.whoami()?.name == "Amina's tablet")
        #expect(try await title(next, other) == "unsynced")
        try await sync(next, to: laptop)
        #expect(try await title(laptop, other) == "unsynced")
        #expect(try await title(laptop, todo) == "before")
        let old = try await laptop.members().first { $0.device == tablet.deviceID.publicKey }
        #expect(old?.retired != nil, "the old identity's chain is retired after its cut-off")
        #expect(try await laptop.members().contains { $0.device == next.deviceID.publicKey && $0.name == "Amina's tablet" })

        // Reopened from disk, the successor keeps its identity and (encrypted) after a
        // rotation sealed to it as a member, reads and writes under the new key.
        let reopened = try Replica.open(at: dir + "/tablet")
        #expect(reopened.deviceID == next.deviceID)
        if encrypted { try await laptop.rotateKey() }
        try await laptop.write { try $0.set("title", to: "after the rotation", record: RecordID(high: 8, low: 8), in: "todos") }
        try await laptop.seal()
        try await sync(laptop, to: reopened)
        #expect(try await title(reopened, RecordID(high: 8, low: 8)) == "after the rotation")
        try await reopened.write { try $0.set("title", to: "from the successor", record: RecordID(high: 9, low: 9), in: "todos") }
        try await reopened.seal()
        try await sync(reopened, to: laptop)
        #expect(try await title(laptop, RecordID(high: 9, low: 9)) == "from the successor")
        #expect(try await laptop.state().digestHex == reopened.state().digestHex)
    }

    @Test(
        "two copies of a tablet's store both wrote: the copy recovers, the original is told to recover too, and both copies' writes reach everyone"
    )
    func bothCopiesRecover() async throws {
        let dir = temporaryDirectory()
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop")
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet")
        try await sync(laptop, to: tablet)
        try FileManager.default.copyItem(atPath: dir + "/tablet", toPath: dir + "/copy")
        let copy = try Replica.open(at: dir + "/copy")
        let (onOriginal, onCopy) = (RecordID(high: 11, low: 1), RecordID(high: 12, low: 1))
        try await tablet.write { try $0.set("title", to: "on the original", record: onOriginal, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        try await copy.write { try $0.set("title", to: "on the copy", record: onCopy, in: "todos") }
        try await copy.seal()

        let copied = try await copy.recover().replica
        try await sync(copied, to: laptop)
        #expect(try await title(laptop, onCopy) == "on the copy")
        // The copy's successor op retired the shared chain after what both held: the
        // original's later bundle is rolled back everywhere, and its next write says why.
        #expect(try await title(laptop, onOriginal) == nil)
        try await sync(laptop, to: tablet)
        let told = await #expect(throws: ConcordError.self) {
            try await tablet.write { try $0.set("title", to: "more", record: onOriginal, in: "todos") }
        }
        #expect(told?.message.contains("concord recover") == true, "\(told?.message ?? "")")
        let original = try await tablet.recover().replica
        #expect(try await title(original, onOriginal) == "on the original")
        try await sync(original, to: laptop)
        try await sync(laptop, to: copied)
        try await sync(laptop, to: original)
        for replica in [laptop, copied, original] {
            #expect(try await title(replica, onOriginal) == "on the original")
            #expect(try await title(replica, onCopy) == "on the copy")
        }
        #expect(try await laptop.state().digestHex == copied.state().digestHex)
        #expect(try await laptop.state().digestHex == original.state().digestHex)
        #expect(try await laptop.members().filter { $0.name == "tablet" }.count == 3)
    }
}
