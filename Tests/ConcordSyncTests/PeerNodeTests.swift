import Concord
import ConcordCrypto
@testable import ConcordSync
import Foundation
import Testing

/// `PeerNode` and `SyncEngine` peering in one process on loopback: real TCP, real stores.
@Suite("Peer nodes on loopback")
struct PeerNodeTests {
    @Test("one exchange sends what each side lacks, both ways, and acknowledges")
    func oneExchange() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 4, tag: "a")
        try await writeSome(b, records: 2, tag: "b")
        // A loaded CI machine can stall a process for many seconds: a generous idle timeout.
        let patient = PeerOptions(idleTimeout: 300)
        let server = try PeerNode(replica: a, options: patient)
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        let client = try PeerNode(replica: b, options: patient)
        let summary = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        #expect(summary.peer == a.membership.device.publicKey)
        #expect(summary.received.applied == 4 && summary.bundlesSent == 2)
        #expect(try await a.state().digestHex == b.state().digestHex)
        // B's bundles were acknowledged by A's vector: B's records are synced.
        #expect(try await b.status().unacknowledgedBundles == 0)
        let again = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        #expect(again.bundlesReceived == 0 && again.bundlesSent == 0)
        await server.stop()
    }

    @Test("a device the authorizer refuses (a removed member) gets nothing and sends nothing")
    func refusedByTheAuthorizer() async throws {
        struct Removed: PeerAuthorizer {
            let removed: PublicKey
            let inner: CertificatePeerAuthorizer
            func authorize(device: PublicKey, proof: [UInt8]) throws -> Role {
                guard device != removed else { throw ConcordSyncError(.peerRefused, "device \(device.hex.prefix(8)) was removed from the space") }
                return try inner.authorize(device: device, proof: proof)
            }
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 2, tag: "a")
        try await writeSome(b, records: 2, tag: "b")
        let before = try await Snapshot(a)
        let server = try PeerNode(replica: a, authorizer: Removed(removed: b.membership.device.publicKey, inner: CertificatePeerAuthorizer(spaceID: a.spaceID)))
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        let client = try PeerNode(replica: b)
        do {
            _ = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
            Issue.record("the removed member was served")
        } catch let error as ConcordSyncError {
            #expect(error.code == .peerRefused, "\(error)")
            #expect(error.message.contains("was removed from the space"), "\(error)")
        }
        #expect(try await Snapshot(a) == before)
        #expect(try await b.bundleCount() == 2)
        await server.stop()
    }

    @Test("live engines forward new writes at once, and store and forward across a chain A–B–C")
    func liveChain() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try Replica.createWithoutMembers(at: dir.file("a"))
        let b = try Replica.join(try await a.invite(), at: dir.file("b"))
        let c = try Replica.join(try await a.invite(), at: dir.file("c"))
        let middle = try SyncEngine(replica: b, peering: SyncEngine.Peering(listenPort: 0, listenHost: "127.0.0.1", advertise: false))
        await middle.start()
        var port: Int?
        #expect(await eventually(60) { port = await middle.peers?.listeningPort; return port != nil })
        let endpoint = PeerEndpoint(host: "127.0.0.1", port: try #require(port))
        let left = try SyncEngine(replica: a, peering: SyncEngine.Peering(endpoints: [endpoint]))
        let right = try SyncEngine(replica: c, peering: SyncEngine.Peering(endpoints: [endpoint]))
        await left.start()
        await right.start()
        #expect(await eventually(60) {
            let l = await left.currentStatus
            let r = await right.currentStatus
            return l == .synced && r == .synced
        })
        let id = RecordID.random()
        let start = ContinuousClock.now
        try await a.write { try $0.set("title", to: "from a", record: id, in: "todos") }
        #expect(try await eventually(60) { try await c.record(id, in: "todos") != nil })
        print("a live write crossed A–B–C in \(ContinuousClock.now - start)")
        try await c.write { try $0.set("title", to: "from c", record: id, in: "todos") }
        #expect(try await eventually(60) { try await a.record(id, in: "todos")?["title"] == .string("from c") })
        #expect(await middle.linkStatuses.keys.contains { $0.hasPrefix("peer ") })
        await left.stop()
        await right.stop()
        await middle.stop()
        #expect(try await a.state().digestHex == c.state().digestHex)
        #expect(try await b.state().digestHex == c.state().digestHex)
    }

    @Test("a large backlog crosses in bounded messages, with backpressure, and is applied once")
    func largeBacklog() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        for batch in 0..<60 {
            try await a.write { tx in
                for index in 0..<200 { try tx.set("n", to: .int(Int64(index)), record: RecordID(high: UInt64(batch), low: UInt64(index)), in: "big") }
            }
            try await a.seal()
        }
        // Small messages: many bundles messages, the receiver's reads throttle the sender.
        let options = PeerOptions(maxMessageBytes: 16 << 10, idleTimeout: 300)
        let server = try PeerNode(replica: a, options: options)
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        let summary = try await PeerNode(replica: b, options: options).sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        #expect(summary.received.applied == 60 && summary.received.duplicates == 0)
        #expect(try await b.count(matching: RecordQuery("big")) == 12_000)
        await server.stop()
    }
}
