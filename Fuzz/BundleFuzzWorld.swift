// The fixed spaces, members and valid bundles of the bundle fuzzer (Fuzz/BundleFuzzer.swift).
//
// TEST KEYS ONLY: every seed is a repeated byte. They are the keys of
// Specs/vectors/bundles.jsonl (Tools/GenerateVectors/BundleFixtures.swift), so the bundles
// of that file are meaningful seeds too: plaintext space 05, writers 07 and 08, reader 0c
// (issuer 0d); encrypted space 06, writers 09 and 08; the importing device 0b; physical
// time one hour after the certificates' issue time.
import ConcordCore
import ConcordCrypto

@testable import ConcordProtocol

/// A receiver's replica and log.
struct FuzzReceiver: Sendable {
    var replica: LocalReplica
    var log: BundleLog
}

/// One space: its importer, content key, receivers to import into, and valid bundles.
struct FuzzSpace: Sendable {
    let name: String
    let space: Space
    let importer: BundleImporter
    /// An empty receiver.
    let fresh: FuzzReceiver
    /// A receiver holding the first writer's bundle 1 (applied) and the second writer's
    /// bundle 2 (held, waiting for 1): bundle 1 of the second writer releases it.
    let prepared: FuzzReceiver
    /// Valid bundles, by name: three per writer, and for the plaintext space a reader's.
    let bundles: [(name: String, bundle: ChangeBundle)]
}

/// Everything the fuzzer needs, built once.
struct FuzzWorld: Sendable {
    static let issuedAt: UInt64 = 1_700_000_000_000
    static let now: UInt64 = issuedAt + 3_600_000

    let spaces: [FuzzSpace]
    /// Every device key that signs bundles here or in the vectors, by public key (to re-sign inputs).
    let devices: [PublicKey: Identity]

    static let shared = FuzzWorld()

    static func identity(_ byte: UInt8) -> Identity {
        // Cannot fail: 32 bytes.
        try! Identity(seed: [UInt8](repeating: byte, count: 32))
    }

    private init() {
        let plain = try! Space(seed: SecretBytes([UInt8](repeating: 0x05, count: 32)), encrypted: false)
        let sealed = try! Space(seed: SecretBytes([UInt8](repeating: 0x06, count: 32)), encrypted: true)
        var devices: [PublicKey: Identity] = [:]
        var spaces: [FuzzSpace] = []
        for (name, space, writerBytes) in [("plain", plain, [UInt8(0x07), 0x08]), ("sealed", sealed, [0x09, 0x08])] {
            let authors = writerBytes.map { Membership(writer: Self.identity($0), of: space, issuedAt: Self.issuedAt) }
            for author in authors {
                devices[author.device.publicKey] = author.device
            }
            var bundles = Self.chains(of: authors, name: name)
            if !space.isEncrypted {
                let (readerName, reader, bundle) = Self.readerBundle(in: space)
                devices[reader.publicKey] = reader
                bundles.append((readerName, bundle))
            }
            let observer = Membership(writer: Self.identity(0x0B), of: space, issuedAt: Self.issuedAt)
            let importer = BundleImporter(membership: observer)
            let fresh = FuzzReceiver(
                replica: observer.makeReplica(clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: Self.now))),
                log: BundleLog())
            var prepared = fresh
            let first = importer.importBundle(bundles[0].bundle.bytes, into: &prepared.replica, log: &prepared.log)
            let held = importer.importBundle(bundles[4].bundle.bytes, into: &prepared.replica, log: &prepared.log)
            precondition(first.appliedIDs.count == 1 && held == .held(waitingFor: 1), "fuzz world: \(first), \(held)")
            spaces.append(FuzzSpace(name: name, space: space, importer: importer, fresh: fresh, prepared: prepared, bundles: bundles))
        }
        // Devices of the vectors that sign bundles there: an uncertified device, a writer
        // certified at another time. Inputs they author are re-signed too.
        for byte in [UInt8(0x0A), 0x0E] { devices[Self.identity(byte).publicKey] = Self.identity(byte) }
        self.spaces = spaces
        self.devices = devices
    }

    /// Three bundles per author, alternating, with every op kind and value type. Order:
    /// first author 1, 2, 3, then second author 1, 2, 3.
    private static func chains(of authors: [Membership], name: String) -> [(name: String, bundle: ChangeBundle)] {
        let time = ManualClock(milliseconds: issuedAt)
        var result: [[(name: String, bundle: ChangeBundle)]] = [[], []]
        let todo = RecordID(high: 0xE621_E1F8_C36C_495A, low: 0x93FC_0C24_7A3E_6E5F)
        let other = RecordID(high: 2, low: 2)
        for (who, author) in authors.enumerated() {
            var replica = author.makeReplica(clock: HybridLogicalClock(physicalClock: time))
            var previous: ChangeBundle?
            for round in 1...3 {
                time.advance(by: 1_000)
                let ops: [RecordOperation]
                switch (round, who) {
                case (1, 0):
                    ops = [
                        try! replica.set("title", to: "Buy milk", record: todo, in: "todos"),
                        try! replica.add("errand", to: "tags", record: todo, in: "todos"),
                        try! replica.set("count", to: 3, record: todo, in: "todos"),
                    ]
                case (2, 0):
                    ops = [
                        try! replica.remove("errand", from: "tags", record: todo, in: "todos"),
                        try! replica.set("see", to: .reference(RecordReference(collection: "todos", id: other)), record: todo, in: "todos"),
                        try! replica.set("note", to: .null, record: todo, in: "todos"),
                    ]
                case (3, 0):
                    ops = [
                        try! replica.set("title", to: "Ünïcode ✓", record: todo, in: "todos"),
                        try! replica.set("count", to: .int(.min), record: todo, in: "todos"),
                    ]
                case (1, _):
                    ops = [
                        try! replica.set("done", to: false, record: other, in: "todos"),
                        try! replica.set("price", to: 2.5, record: other, in: "todos"),
                        try! replica.set("blob", to: .bytes([0, 1, 0x7F, 0xFF]), record: other, in: "todos"),
                    ]
                case (2, _):
                    ops = [try! replica.delete(record: other, in: "todos"), try! replica.add(42, to: "tags", record: todo, in: "todos")]
                default:
                    ops = [
                        try! replica.add(true, to: "flags", record: other, in: "lists"),
                        try! replica.set("title", to: "", record: other, in: "lists"),
                    ]
                }
                let nonce = try! XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: UInt8(16 * round + who), count: 24))
                // The causal context: the other writer's bundles sealed so far (none for the
                // first writer, the first writer's three for the second).
                let seen = VersionVector([authors[1 - who].device.publicKey: UInt64(result[1 - who].count)])
                let bundle = try! author.seal(ops, previous: previous, context: seen, limits: .default, nonce: nonce)
                previous = bundle
                result[who].append(("\(name)-\(who == 0 ? "first" : "second")-writer-\(round)", bundle))
            }
        }
        return result[0] + result[1]
    }

    /// A bundle signed by a reader (a chain of two certificates); always `notAWriter`.
    private static func readerBundle(in space: Space) -> (String, Identity, ChangeBundle) {
        let issuer = identity(0x0D)
        let reader = identity(0x0C)
        let chain = CertificateChain([
            space.certify(issuer.publicKey, as: .readerIssuer, issuedAt: issuedAt),
            MembershipCertificate(subject: reader.publicKey, role: .reader, spaceID: space.id, issuedAt: issuedAt, issuer: issuer),
        ])
        let hlc = HLCTimestamp(milliseconds: issuedAt + 500, counter: 0)
        let op = RecordOperation(
            stamp: Stamp(hlc: hlc, replica: ReplicaID(bytes: reader.publicKey.bytes)!), collection: "todos",
            record: RecordID(high: 9, low: 9), action: .set(field: "title", value: "read-only"))
        let header = ChangeBundle.encodeHeader(
            isEncrypted: false, spaceID: space.id, author: reader.publicKey, sequence: 1, previous: .zero,
            hlcRange: hlc...hlc, certificates: chain)
        // The payload plaintext: an empty causal context (00), then the batch.
        let bundle = try! ChangeBundle.assemble(header: header, payload: [0] + OperationCodec.encode([op]), signer: reader)
        return ("plain-reader-1", reader, bundle)
    }
}

extension FuzzWorld {
    /// Format-3 seed bundles: a control bundle (genesis) and an encrypted data bundle of a
    /// space with members, from fixed keys.
    static func memberFormatSeeds() -> [(String, ChangeBundle)] {
        let admin = identity(0x61)
        let stamp = HLCTimestamp(milliseconds: 1_700_000_000_000, counter: 0)
        let (membership, genesis) = try! Membership.createMemberSpace(device: admin, name: "admin", encrypted: true, stamp: stamp)
        let op = RecordOperation(
            stamp: Stamp(hlc: HLCTimestamp(milliseconds: 1_700_000_000_001, counter: 0), replica: membership.replicaID),
            collection: "todos", record: RecordID(high: 1, low: 2), action: .set(field: "title", value: "Buy milk"))
        let data = try! ChangeBundle.sealMember(
            [op], author: admin, spaceID: membership.spaceID, previous: genesis, epoch: membership.handedEpochKeys.first)
        return [("format3-genesis", genesis), ("format3-data", data)]
    }
}
