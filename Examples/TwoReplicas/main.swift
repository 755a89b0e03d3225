// Two replicas edit the same shopping list offline, then exchange their changes and
// converge. In memory, on ConcordCore only: run with `make demo` or `swift run two-replicas`.
//
// Clocks are scripted (ManualClock) so the story and its output are the same every run.
import ConcordCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let start: UInt64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
let aliceTime = ManualClock(milliseconds: start)
let bobTime = ManualClock(milliseconds: start + 40)  // Bob's clock runs 40 ms ahead
var alice = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xA1, count: 32))!, clock: HybridLogicalClock(physicalClock: aliceTime))
var bob = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xB0, count: 32))!, clock: HybridLogicalClock(physicalClock: bobTime))

let list = try RecordID(uuidString: "5E1EC7ED-0000-4000-8000-000000000001")
let bread = try RecordID(uuidString: "B4EAD000-0000-4000-8000-000000000002")
let milk = try RecordID(uuidString: "0A11C000-0000-4000-8000-000000000003")

func show(_ name: String, _ replica: LocalReplica) {
    print("  \(name) (replica \(replica.id.shortDescription)):")
    for collection in replica.state.collectionNames {
        for record in replica.state.records(in: collection) {
            print("    \(collection)/\(record)")
        }
    }
    print("    state digest \(replica.state.digestHex.prefix(16))")
}

/// Encodes what one replica wrote, as it would travel in a change bundle, and applies it on the other.
func send(_ ops: [RecordOperation], from: String, to replica: inout LocalReplica) throws {
    let bytes = OperationCodec.encode(ops)
    let received = try OperationCodec.decode(bytes)
    let changed = try replica.receive(received)
    print("  \(from) -> \(ops.count) operations, \(bytes.count) bytes, \(changed) changed the receiver")
}

print("Concord demo: two replicas edit offline and converge\n")

print("1. Alice creates a shopping list and Bob receives it.")
var fromAlice = [RecordOperation]()
fromAlice.append(try alice.set("title", to: "Groceries", record: list, in: "lists"))
fromAlice.append(try alice.add("weekly", to: "tags", record: list, in: "lists"))
fromAlice.append(try alice.set("name", to: "bread", record: bread, in: "items"))
fromAlice.append(try alice.set("quantity", to: 1, record: bread, in: "items"))
try send(fromAlice, from: "Alice", to: &bob)
fromAlice.removeAll()

print("\n2. Both go offline and edit the same things concurrently.")
aliceTime.advance(by: 1_000)
bobTime.advance(by: 1_000)
var fromBob = [RecordOperation]()
fromAlice.append(try alice.set("title", to: "Weekend groceries", record: list, in: "lists"))
print("  Alice renames the list to \"Weekend groceries\"")
fromBob.append(try bob.set("title", to: "Groceries for the party", record: list, in: "lists"))
print("  Bob renames it to \"Groceries for the party\" (his clock reads later: his write will win)")
fromBob.append(try bob.remove("weekly", from: "tags", record: list, in: "lists"))
print("  Bob removes the tag \"weekly\" he saw")
fromAlice.append(try alice.add("weekly", to: "tags", record: list, in: "lists"))
fromAlice.append(try alice.add("party", to: "tags", record: list, in: "lists"))
print("  Alice, concurrently, tags the list \"weekly\" again and \"party\" (add wins over a concurrent remove)")
fromBob.append(try bob.delete(record: bread, in: "items"))
print("  Bob deletes the bread item")
aliceTime.advance(by: 500)
fromAlice.append(try alice.set("quantity", to: 2, record: bread, in: "items"))
print("  Alice, later, changes the bread quantity to 2 (an update after the delete revives the item with that field)")
fromAlice.append(try alice.set("name", to: "milk", record: milk, in: "items"))
print("  Alice adds milk")

print("\n  Before syncing:")
show("Alice", alice)
show("Bob", bob)

print("\n3. They meet again and exchange what they wrote, both ways (one message delivered twice).")
try send(fromAlice, from: "Alice", to: &bob)
try send(fromBob, from: "Bob", to: &alice)
try send(fromBob, from: "Bob (duplicate)", to: &alice)

print("\n  After syncing:")
show("Alice", alice)
show("Bob", bob)

guard alice.state == bob.state, alice.state.canonicalEncoding() == bob.state.canonicalEncoding() else {
    print("\nERROR: the replicas did not converge")
    exit(1)
}
let title = alice.state.record(list, in: "lists")?["title"]
print("\nConverged: both replicas hold identical state (digest \(alice.state.digestHex.prefix(16))); title is \(title?.description ?? "?").")
