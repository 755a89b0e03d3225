import ConcordCore
import Testing

/// The README's first example, verbatim, so it cannot drift from the API.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleConverges() throws {
        // A replica id is the device's 32-byte public key (made by ConcordCrypto.Identity).
        var alice = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xA1, count: 32))!)
        var bob = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xB0, count: 32))!)
        let todo = RecordID.random()

        let a1 = try alice.set("title", to: "Buy milk", record: todo, in: "todos")
        let a2 = try alice.add("errand", to: "tags", record: todo, in: "todos")
        let b1 = try bob.set("title", to: "Buy oat milk", record: todo, in: "todos")   // concurrent

        try bob.receive(try OperationCodec.decode(OperationCodec.encode([a1, a2])))
        try alice.receive([b1])
        #expect(alice.state == bob.state)                // same state, whatever the order
        let view = try #require(alice.state.record(todo, in: "todos"))
        #expect(view.members(of: "tags") == ["errand"])
        #expect(view["title"] == (b1.stamp > a1.stamp ? "Buy oat milk" : "Buy milk"))
    }
}
