import ConcordCore
import ConcordCrypto
import ConcordRelayProtocol
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol
@testable import ConcordSync

/// A blind relay and read scopes (`Specs/permissions.md` §7.3, stage 4): it stores and
/// forwards sectioned bundles (flag bit 2) without any key, refuses one whose section
/// structure is broken, and a learner syncing through it converges on everything but the
/// scoped collection, whose ops it cannot open.
@Suite("relay: read scopes", .serialized)
struct RelayScopeTests {
    func client(_ replica: Replica, _ relay: RelayHarness) -> RelayClient {
        RelayClient(replica: replica, relay: URL(string: relay.baseURL)!, logger: RelayManyAuthorsTests.quietLogger)
    }

    func sync(_ replica: Replica, _ relay: RelayHarness) async throws {
        let client = client(replica, relay)
        _ = try await client.pull()
        if await client.sessionRole != "reader" { _ = try await client.push() }
    }

    @Test func sectionedBundlesTravelAndBrokenSectionsAreRefused() async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let directory = try TemporaryDirectory()
                defer { directory.cleanUp() }
                let admin = try await Replica.create(at: directory.path("admin"), name: "School office", encrypted: true)
                let policy = try Policy(
                    json: #"""
                        {"concord_policy": 1, "roles": {"learner": {"base": "writer"}, "teacher": {"base": "writer"}},
                         "collections": {"*": {"write": {"learner": "all", "teacher": "all"}},
                                         "notes": {"read": ["teacher"], "write": {"teacher": "all"}}}}
                        """#, encrypted: true)
                try await admin.setPolicy(policy)
                let learner = try await Replica.join(
                    try await admin.invite(role: try RoleAssignment(named: "learner", base: .writer)), at: directory.path("learner"),
                    name: "Amina's tablet")
                try await sync(admin, relay)
                try await sync(learner, relay)
                try await sync(admin, relay)

                // The admin's note (scoped: teachers and admins) and a result, in one sectioned bundle.
                let note = RecordID(high: 9, low: 1)
                let result = RecordID(high: 9, low: 2)
                try await admin.write {
                    try $0.set("text", to: "sealed for teachers", record: note, in: "notes")
                    try $0.set("score", to: 7, record: result, in: "results")
                }
                let sealed = try await admin.seal()
                let bundle = try #require(sealed.first)
                #expect(sealed.count == 1 && bundle.isSectioned && bundle.sections.count == 1)

                // The same bundle with one byte after its last section, re-signed: refused.
                var broken = ByteWriter()
                broken.write(contentsOf: bundle.header)
                broken.writeLengthPrefixed(Array(bundle.payload) + [0])
                let signature = admin.membership.device.sign(broken.bytes)
                broken.write(contentsOf: signature.bytes)
                let raw = client(admin, relay)
                try await raw.authenticate()
                let token = try #require(await raw.token)
                let refused = try await relay.pushRaw(BundleStreamFraming.encode([broken.bytes]), to: admin.spaceID, token: token)
                #expect(refused.status != 200, "\(refused.status) \(refused.text)")

                // The real one travels; the learner applies the result and not the note.
                try await sync(admin, relay)
                try await sync(learner, relay)
                #expect(try await learner.record(result, in: "results")?["score"] == 7)
                #expect(try await learner.record(note, in: "notes") == nil)
                #expect(try await admin.record(note, in: "notes")?["text"] == "sealed for teachers")
                #expect(try await learner.state().records(in: "notes").isEmpty)
            })
    }
}
