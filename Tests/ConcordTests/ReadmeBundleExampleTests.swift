import Concord
import ConcordCore
import Testing

/// The README's bundle example, verbatim, so it cannot drift from the API.
@Test func readmeBundleExampleApplies() throws {
    // Device A creates an encrypted space; device B joins with an invite (a text line).
    let a = Membership.createSpace()
    let invite = try a.writerInvite().text                 // "concord1-..."
    let b = try Membership.join(try InviteToken(invite))

    // A writes offline and seals what it wrote into a signed, encrypted bundle.
    var replicaA = a.makeReplica()
    var logA = BundleLog()
    let id = RecordID.random()
    let op = try replicaA.set("title", to: "Buy milk", record: id, in: "todos")
    let bundle = try a.seal([op], appendingTo: &logA)

    // B verifies everything before applying anything.
    var replicaB = b.makeReplica()
    var logB = BundleLog()
    switch BundleImporter(membership: b).importBundle(bundle.bytes, into: &replicaB, log: &logB) {
    case .applied: print(replicaB.state.record(id, in: "todos")!)
    case .duplicate, .held, .fork: break                    // already had it / waiting for an earlier bundle / quarantined
    case .rejected(let error): print(error)                  // tampered, forged, wrong space, far-future clock...
    }
    #expect(invite.hasPrefix("concord1-"))
    #expect(replicaB.state == replicaA.state)
}
