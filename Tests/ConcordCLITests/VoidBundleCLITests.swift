import Concord
import ConcordCrypto
import Foundation
import Testing

/// Issue 12.5 with real processes: a member's correctly signed bundle whose payload no
/// member can decrypt used to make every member's `concord sync` fail forever and stalled
/// its author's later bundles. It now enters the chain void (`Specs/wire-format.md` §7.7,
/// step 11; `Specs/sync-protocol.md` §6).
@Suite("void bundles (real processes)", .serialized)
struct VoidBundleCLITests {
    @Test("a signed bundle nobody can decrypt passes the relay, is void on every member, reported once; the author's later bundles apply")
    func undecryptableBundleIsVoidEverywhere() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        let c = Device(cli: cli, store: scratch.file("c"))
        try a.ok("init", "--format", "2")
        let invite = try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines)
        try b.ok("join", invite)
        try c.ok("join", invite)
        let first = UUID().uuidString
        try a.ok("put", "notes", first, "title=\"one\"")
        try a.ok("sync", relay.url)

        // A's bundle 2: signed by A's device key, its payload sealed under a key no member
        // holds (a damaged Concord on A). It goes into A's chain like any sealed bundle.
        do {
            let replica = try Replica.open(at: a.store)
            let m = replica.membership
            let broken = Membership(
                device: m.device, spaceID: m.spaceID, isEncrypted: true, certificates: m.certificates!, contentKey: SymmetricKey(),
                space: nil)
            let previous = try #require(try await collect(replica.bundles()).last)
            let stamp = Stamp(hlc: HLCTimestamp(milliseconds: SystemClock().nowMilliseconds(), counter: 0), replica: replica.replicaID)
            let op = RecordOperation(
                stamp: stamp, collection: "notes", record: RecordID.random(), action: .set(field: "title", value: "lost"))
            let bad = try broken.seal([op], previous: previous)
            try replica.store.write { tx in
                try tx.appendBundle(
                    StoredBundle(
                        id: bad.id.digest, author: bad.author, sequence: bad.sequence, previous: bad.previous.digest, bytes: bad.bytes))
            }
        }
        let third = UUID().uuidString
        try a.ok("put", "notes", third, "title=\"three\"")
        let pushed = try a.ok("sync", relay.url)
        #expect(pushed.contains("pushed 2"), "the relay verifies signatures, not payloads: \(pushed)")

        // B: the sync succeeds, says once which bundle was skipped, and applies bundle 3.
        let synced = try b.run("sync", relay.url)
        #expect(synced.status == 0, "\(synced.stdout) \(synced.stderr)")
        #expect(
            synced.stderr.contains("bundle 2 of device") && synced.stderr.contains("could not be read"), "\(synced.stdout) \(synced.stderr)"
        )
        #expect(try b.ok("get", "notes", third).contains("three"))
        #expect(try b.ok("get", "notes", first).contains("one"))
        let again = try b.run("sync", relay.url)
        #expect(again.status == 0 && !again.stderr.contains("could not be read"), "reported once: \(again.stderr)")
        // C decides the same; A's later writes keep flowing.
        try c.ok("sync", relay.url)
        let fourth = UUID().uuidString
        try a.ok("put", "notes", fourth, "title=\"four\"")
        try a.ok("sync", relay.url)
        try b.ok("sync", relay.url)
        try c.ok("sync", relay.url)
        let lists = try [a, b, c].map { try $0.ok("list", "notes", "--json") }
        #expect(lists[1] == lists[2] && lists[0] == lists[1], "\(lists)")
        #expect(lists[1].contains("four") && !lists[1].contains("lost"))
    }
}

func collect(_ stream: BundleStream) async throws -> [ChangeBundle] {
    var result: [ChangeBundle] = []
    for try await bundle in stream { result.append(bundle) }
    return result
}
