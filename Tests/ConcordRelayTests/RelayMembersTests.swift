import AsyncHTTPClient
import ConcordCore
import ConcordCrypto
import ConcordRelayProtocol
import ConcordSync
import Foundation
import Logging
import Testing

@testable import Concord
@testable import ConcordProtocol
@testable import ConcordRelay

/// A relay enforcing the membership of a space with members, blind (`Specs/membership.md`
/// §8): it learns members from the control bundles it verifies, refuses a removed device's
/// sessions, pushes and pulls with `403 removed`, a join whose invite it does not hold with
/// `403 invite-unknown`, and never stores bundles past a cut-off. On SQLite and PostgreSQL.
@Suite("relay: spaces with members", .serialized)
struct RelayMembersTests {
    func client(_ replica: Replica, _ relay: RelayHarness) -> RelayClient {
        RelayClient(replica: replica, relay: URL(string: relay.baseURL)!, logger: RelayManyAuthorsTests.quietLogger)
    }

    /// Pull then push, as a sync round does.
    func sync(_ replica: Replica, _ relay: RelayHarness) async throws {
        let client = client(replica, relay)
        _ = try await client.pull()
        if await client.sessionRole != "reader" { _ = try await client.push() }
    }

    /// An admin ("teacher") and a writer ("tablet") of a plaintext space in `directory`.
    func teacherAndTablet(_ directory: TemporaryDirectory) async throws -> (Replica, Replica) {
        let teacher = try await Replica.create(at: directory.path("teacher"), name: "teacher", encrypted: false)
        let tablet = try await Replica.join(try await teacher.invite(role: .writer), at: directory.path("tablet"), name: "tablet")
        return (teacher, tablet)
    }

    func refusal(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as ConcordSyncError {
            return error.relayCode
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: StorageBackend.all)
    func removedDeviceIsRefusedByTheRelay(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend, { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let teacher = try await Replica.create(at: directory.path("teacher"), name: "Ms Dlamini's laptop")
                let tabletToken = try await teacher.invite(role: .writer)
                // A join whose invite op the relay does not hold yet.
                let tablet = try await Replica.join(tabletToken, at: directory.path("tablet"), name: "Amina's tablet")
                try await sync(teacher, relay)
                let early = await refusal { try await client(tablet, relay).authenticate() }
                #expect(early == nil, "the teacher pushed the invite first: \(early ?? "")")
                let learnerToken = try await teacher.invite(role: .writer)
                let learner = try await Replica.join(learnerToken, at: directory.path("learner"), name: "Sipho's tablet")
                let unknown = await refusal { try await client(learner, relay).authenticate() }
                #expect(unknown == "invite-unknown")
                try await sync(teacher, relay)
                try await sync(tablet, relay)
                try await sync(learner, relay)
                try await tablet.write { try $0.set("title", to: "before", record: RecordID(high: 1, low: 1), in: "notes") }
                try await sync(tablet, relay)
                try await sync(teacher, relay)
                try await sync(learner, relay)
                #expect(try await learner.record(RecordID(high: 1, low: 1), in: "notes")?["title"] == "before")

                // The tablet is lost. It writes on, offline; the teacher removes it and syncs.
                try await tablet.write { try $0.set("title", to: "after", record: RecordID(high: 1, low: 2), in: "notes") }
                try await tablet.seal()
                try await teacher.removeMember(tablet.deviceID)
                try await sync(teacher, relay)
                // Every relay request of the tablet: 403 removed, naming the teacher.
                let tabletClient = client(tablet, relay)
                let session = await refusal { try await tabletClient.authenticate() }
                #expect(session == "removed")
                do {
                    try await tabletClient.authenticate()
                } catch let error as ConcordSyncError {
                    #expect(error.message.contains("Ms Dlamini's laptop"), "\(error.message)")
                }
                // Its late bundle never reaches the relay, nor anyone through it.
                let relayVector = try await relay.storage.vector(of: teacher.spaceID)
                #expect(relayVector[tablet.deviceID.publicKey] == 2)
                try await sync(learner, relay)
                #expect(try await learner.record(RecordID(high: 1, low: 2), in: "notes") == nil)
                #expect(try await learner.members().first { $0.device == tablet.deviceID.publicKey }?.status == .removed)
            })
    }

    @Test func aRemovedDevicesSessionIsRefusedOnItsNextRequest() async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let (teacher, tablet) = try await teacherAndTablet(directory)
                try await sync(teacher, relay)
                try await sync(tablet, relay)
                try await sync(teacher, relay)
                let open = client(tablet, relay)
                try await open.authenticate()
                try await teacher.removeMember(tablet.deviceID)
                try await sync(teacher, relay)
                // The session opened before the removal: its next pull and push are refused.
                let pull = await refusal { _ = try await open.pull() }
                #expect(pull == "removed")
            })
    }

    /// Regression: a reader member's sync round pushed (format 3 has no certificate role, so
    /// the engine took every member for a writer) and the relay refused it with
    /// `403 read-only`; after a snapshot catch-up the round failed. A reader never pushes,
    /// not even other authors' bundles it holds and the relay lacks.
    @Test func aReaderNeverPushes() async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let (teacher, tablet) = try await teacherAndTablet(directory)
                let display = try await Replica.join(
                    try await teacher.invite(role: .reader), at: directory.path("display"), name: "hall display")
                // By files: the display holds the tablet's bundles; the relay does not.
                func exchange() async throws {
                    for to in [teacher, tablet, display] {
                        for from in [teacher, tablet, display] where from !== to {
                            try await to.import(try await from.bundles(since: try await to.versionVector()))
                        }
                    }
                }
                try await exchange()
                let url = URL(string: relay.baseURL)!
                _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
                try await tablet.write { try $0.set("title", to: "by file", record: RecordID(high: 1, low: 1), in: "notes") }
                try await tablet.seal()
                try await display.import(try await tablet.bundles(since: try await display.versionVector()))
                #expect(try await teacher.mayWrite())
                #expect(try await tablet.mayWrite())
                #expect(try await display.mayWrite() == false)
                let engine = SyncEngine(replica: display, relay: url)
                let round = try await engine.syncNow()
                #expect(round.pushed.stored == 0 && round.pushed.requests == 0, "\(round)")
                #expect(await engine.currentStatus == .synced)
                let relayVector = try await relay.storage.vector(of: teacher.spaceID)
                #expect(
                    relayVector[tablet.deviceID.publicKey] < (try await display.versionVector())[tablet.deviceID.publicKey],
                    "the reader forwarded the tablet's bundles")
                // A removed writer may not write either.
                try await teacher.removeMember(tablet.deviceID)
                try await tablet.import(try await teacher.bundles(since: try await tablet.versionVector()))
                #expect(try await tablet.mayWrite() == false)
            })
    }

    @Test func aRemovedDevicesOpenFeedIsClosed() async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let teacher = try await Replica.create(at: directory.path("teacher"), name: "teacher")
                let tablet = try await Replica.join(try await teacher.invite(role: .writer), at: directory.path("tablet"), name: "tablet")
                try await sync(teacher, relay)
                try await sync(tablet, relay)
                try await sync(teacher, relay)
                let ready = AsyncStream<Void>.makeStream()
                let feed = Task { [client = client(tablet, relay)] in
                    await refusal { try await client.feed(onReady: { ready.continuation.yield() }) }
                }
                for await _ in ready.stream { break }
                try await teacher.removeMember(tablet.deviceID)
                try await sync(teacher, relay)
                // The removal reaches the tablet's feed as a bundle: the relay closes it (4003).
                let ended = await feed.value
                #expect(ended == "removed", "\(ended ?? "nil")")
            })
    }

    @Test(
        "a mutual removal forwarded by a third member reaches relay-only members: the relay keeps the removed admin's removal as evidence")
    func mutualRemovalEvidenceIsForwarded() async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let first = try await Replica.create(at: directory.path("first"), name: "first admin", encrypted: false)
                let second = try await Replica.join(
                    try await first.invite(role: .admin), at: directory.path("second"), name: "second admin")
                let carrier = try await Replica.join(try await first.invite(role: .writer), at: directory.path("carrier"), name: "carrier")
                let bystander = try await Replica.join(
                    try await first.invite(role: .reader), at: directory.path("bystander"), name: "bystander")
                try await sync(first, relay)
                for device in [second, carrier, bystander] { try await sync(device, relay) }
                try await sync(first, relay)
                try await sync(second, relay)
                // Offline, each admin removes the other.
                try await first.removeMember(second.deviceID)
                try await second.removeMember(first.deviceID)
                try await sync(first, relay)  // the relay now cuts the second admin
                #expect(await refusal { try await client(second, relay).authenticate() } == "removed")
                // The carrier meets the second admin (a file) and syncs through the relay: the
                // second admin's removal of the first is evidence the relay keeps.
                try await carrier.import(try await second.bundles())
                try await sync(carrier, relay)
                #expect(await refusal { try await client(first, relay).authenticate() } == "removed")
                try await sync(bystander, relay)
                let statuses = try await bystander.members().filter { $0.role == .admin }.map(\.status)
                #expect(statuses == [.removed, .removed], "\(statuses)")
                #expect(try await bystander.members() == (try await carrier.members()))
            })
    }

    @Test(
        "a set-policy op travels through a blind relay (permissions stage 2): sealed in an encrypted space, plaintext otherwise; every member holds and opens the same policy",
        arguments: [true, false])
    func setPolicyTravelsThroughTheRelay(encrypted: Bool) async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let teacher = try await Replica.create(at: directory.path("teacher"), name: "teacher", encrypted: encrypted)
                let tablet = try await Replica.join(try await teacher.invite(role: .writer), at: directory.path("tablet"), name: "tablet")
                try await sync(teacher, relay)
                try await sync(tablet, relay)
                let policy = try Policy(
                    json: #"{"concord_policy": 1, "collections": {"*": {"write": {"writer": "all"}}}}"#, encrypted: encrypted)
                try await teacher.setPolicy(policy)
                try await sync(teacher, relay)
                try await sync(tablet, relay)
                let held = try await tablet.memberContext().state.policies
                let teachers = try await teacher.memberContext().state.policies
                #expect(held.count == 1 && held == teachers)
                let applied = try #require(held.first)
                #expect(try await tablet.openPolicy(applied) == .policy(policy))
                // Nothing enforces policies yet: the writer still writes and the relay takes it.
                try await tablet.write { try $0.set("title", to: "still", record: RecordID(high: 7, low: 7), in: "notes") }
                try await sync(tablet, relay)
                try await sync(teacher, relay)
                #expect(try await teacher.record(RecordID(high: 7, low: 7), in: "notes")?["title"] == "still")
            })
    }
}
