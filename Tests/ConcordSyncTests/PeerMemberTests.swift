import Concord
import ConcordCrypto
import Foundation
import Testing

@testable import ConcordSync

/// Peer links in spaces with members (bundle format 3, `Specs/peer-protocol.md` §3.4): the
/// proof is the device's bundle 1, the replica's membership decides, a removed member is
/// refused on both sides of the handshake. Real TCP on loopback, real stores.
@Suite("Peer links with members")
struct PeerMemberTests {
    let patient = PeerOptions(idleTimeout: 300)

    func title(_ replica: Replica, _ id: RecordID) async throws -> String? {
        try await replica.record(id, in: "todos")?["title"]?.stringValue
    }

    func note(_ replica: Replica, _ id: RecordID, _ text: String) async throws {
        try await replica.write { try $0.set("title", to: .string(text), record: id, in: "todos") }
        try await replica.seal()
    }

    @Test("a device that holds only its invite token joins over a peer link, then writes and converges", arguments: [true, false])
    func joinOverAPeerLink(encrypted: Bool) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let laptop = try await Replica.create(at: dir.file("laptop"), name: "Ms Dlamini's laptop", encrypted: encrypted)
        try await note(laptop, RecordID(high: 1, low: 1), "from the laptop")
        let token = try await laptop.invite(role: .writer)
        let tablet = try await Replica.join(try MemberInviteToken(token.text), at: dir.file("tablet"), name: "Amina's tablet")
        #expect(try await tablet.whoami() == nil)

        let server = try PeerNode(replica: laptop, options: patient)
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        defer { Task { await server.stop() } }
        let client = try PeerNode(replica: tablet, options: patient)
        let first = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        #expect(first.peer == laptop.membership.device.publicKey)
        #expect(try await tablet.whoami()?.role == .writer)
        #expect(try await title(tablet, RecordID(high: 1, low: 1)) == "from the laptop")

        try await note(tablet, RecordID(high: 2, low: 1), "from the tablet")
        _ = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        #expect(try await title(laptop, RecordID(high: 2, low: 1)) == "from the tablet")
        #expect(try await laptop.state().digestHex == tablet.state().digestHex)
        #expect(try await laptop.members().map(\.name).sorted() == ["Amina's tablet", "Ms Dlamini's laptop"])
    }

    @Test("peer links carry acks and the admin's checkpoint: the stable cut moves on both devices, as with a relay or a folder")
    func acknowledgementsTravelOverPeerLinks() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let laptop = try await Replica.create(at: dir.file("laptop"), name: "Ms Dlamini's laptop")
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir.file("tablet"), name: "Amina's tablet")
        let server = try PeerNode(replica: laptop, options: patient)
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        defer { Task { await server.stop() } }
        let client = try PeerNode(replica: tablet, options: patient)
        _ = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        try await note(tablet, RecordID(high: 4, low: 1), "Amina's homework")
        let laptopID = laptop.deviceID.publicKey
        let tabletID = tablet.deviceID.publicKey
        var seen = try await laptop.stability()
        for _ in 0..<4 {
            let tabletCheckpoint = try await tablet.stability().latestCheckpoint
            if seen.latestCheckpoint != nil && tabletCheckpoint != nil { break }
            _ = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
            seen = try await laptop.stability()
        }
        #expect(Set(seen.countedMembers) == [laptopID, tabletID], "\(seen)")
        #expect(seen.stableCut[tabletID] >= 1, "\(seen.stableCut)")
        #expect(seen.latestCheckpoint?.by.author == laptopID)
        #expect(try await tablet.stability().latestCheckpoint == seen.latestCheckpoint)
    }

    @Test("a new device's first peer need not be the admin: a member that holds the invite admits it")
    func firstPeerIsAnotherMember() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let laptop = try await Replica.create(at: dir.file("laptop"), name: "Ms Dlamini's laptop")
        let first = try await Replica.join(try await laptop.invite(role: .writer), at: dir.file("first"), name: "Amina's tablet")
        let laptopNode = try PeerNode(replica: laptop, options: patient)
        let laptopPort = try await laptopNode.listen(host: "127.0.0.1", port: 0)
        defer { Task { await laptopNode.stop() } }
        // The second invite is made after the first tablet synced, so the tablet holds it.
        let secondToken = try await laptop.invite(role: .reader)
        _ = try await PeerNode(replica: first, options: patient).sync(with: PeerEndpoint(host: "127.0.0.1", port: laptopPort))
        try await note(first, RecordID(high: 3, low: 1), "Amina's homework")

        let second = try await Replica.join(secondToken, at: dir.file("second"), name: "Parent's phone")
        let firstNode = try PeerNode(replica: first, options: patient)
        let firstPort = try await firstNode.listen(host: "127.0.0.1", port: 0)
        defer { Task { await firstNode.stop() } }
        _ = try await PeerNode(replica: second, options: patient).sync(with: PeerEndpoint(host: "127.0.0.1", port: firstPort))
        #expect(try await second.whoami()?.role == .reader)
        #expect(try await title(second, RecordID(high: 3, low: 1)) == "Amina's homework")
        #expect(try await second.state().digestHex == first.state().digestHex)
    }

    @Test("a removed tablet is refused by the admin's node, naming who removed it, and cannot serve the admin either")
    func removedMemberIsRefused() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let laptop = try await Replica.create(at: dir.file("laptop"), name: "Ms Dlamini's laptop")
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir.file("tablet"), name: "Lost tablet")
        let server = try PeerNode(replica: laptop, options: patient)
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        defer { Task { await server.stop() } }
        let client = try PeerNode(replica: tablet, options: patient)
        _ = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        #expect(try await tablet.whoami()?.role == .writer)

        try await laptop.removeMember(tablet.deviceID)
        try await note(tablet, RecordID(high: 4, low: 1), "written after the removal")
        let before = try await laptop.state().digestHex
        let refused = await #expect(throws: ConcordSyncError.self) {
            _ = try await client.sync(with: PeerEndpoint(host: "127.0.0.1", port: port))
        }
        #expect(refused?.code == .peerRefused)
        #expect(refused?.message.contains("removed from the space by Ms Dlamini's laptop") == true, "\(refused?.message ?? "")")
        #expect(try await laptop.state().digestHex == before)
        #expect(try await title(laptop, RecordID(high: 4, low: 1)) == nil)

        // The other way round: the admin dials the removed tablet's node and refuses it.
        let tabletServer = try PeerNode(replica: tablet, options: patient)
        let tabletPort = try await tabletServer.listen(host: "127.0.0.1", port: 0)
        defer { Task { await tabletServer.stop() } }
        let dialled = await #expect(throws: ConcordSyncError.self) {
            _ = try await server.sync(with: PeerEndpoint(host: "127.0.0.1", port: tabletPort))
        }
        #expect(dialled?.code == .peerRefused)
        #expect(try await laptop.state().digestHex == before)
    }

    @Test("a live link with a member is closed when its removal arrives, and its redial is refused")
    func liveLinkClosedOnRemoval() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let laptop = try await Replica.create(at: dir.file("laptop"), name: "Ms Dlamini's laptop", encrypted: false)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir.file("tablet"), name: "Lost tablet")
        let server = try PeerNode(replica: laptop, options: patient)
        let port = try await server.listen(host: "127.0.0.1", port: 0)
        defer { Task { await server.stop() } }
        let client = try PeerNode(replica: tablet, options: patient)
        let live = Task { await client.maintain(PeerEndpoint(host: "127.0.0.1", port: port)) }
        defer { live.cancel() }
        #expect(try await eventually(20) { await server.connectedPeers.contains(tablet.deviceID.publicKey) })
        #expect(try await eventually(20) { try await tablet.whoami()?.role == .writer })
        // The handshake took the tablet's join in memory; its bundle reaches the laptop's
        // store with the exchange.
        #expect(try await eventually(20) { try await laptop.members().count == 2 })

        try await laptop.removeMember(tablet.deviceID)
        server.signal.notify()
        #expect(try await eventually(20) { await !server.connectedPeers.contains(tablet.deviceID.publicKey) })
        // Its redials (maintain keeps trying) are refused: it stays out, and what the laptop
        // writes after the removal never reaches it (this space is unencrypted).
        try await note(laptop, RecordID(high: 5, low: 1), "after the removal")
        server.signal.notify()
        try await Task.sleep(for: .seconds(2))
        #expect(await !server.connectedPeers.contains(tablet.deviceID.publicKey))
        #expect(try await title(tablet, RecordID(high: 5, low: 1)) == nil)
    }
}
