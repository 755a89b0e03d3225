import ConcordCore
import ConcordCrypto
import ConcordStore

/// What a format-3 replica keeps beside its bundle tables (`Specs/membership.md` §8), in
/// three metadata entries of its store: every control bundle whose op counts (in a chain,
/// held or kept as evidence), which of them are evidence (outside any chain), and which
/// chain data bundles contribute nothing now (their author may not write there, or their
/// epoch key is not here) but may after a later op.
///
/// Control bundles are few and small (one per membership change), so the whole ledger is
/// read at the start of an import transaction and written back at its end when changed.
struct MemberLedger {
    static let controlsKey = "membership.controls"
    static let evidenceKey = "membership.evidence"
    static let withheldKey = "membership.withheld"
    /// Bumped by every save: a replica reuses its evaluated ledger while it is unchanged.
    static let generationKey = "membership.generation"

    /// Control bundles by id.
    var controls: [BundleID: ChangeBundle] = [:]
    /// Their ops.
    var records: [BundleID: MembershipOpRecord] = [:]
    /// Ids of control bundles kept as evidence.
    var evidence: Set<BundleID> = []
    /// Places (author, sequence) of chain data bundles whose operations are not in the records.
    var withheld: Set<BundlePlace> = []
    var isDirty = false
    /// The generation read or written last (`nil`: never saved).
    var generation: [UInt8]?

    /// Reads the ledger of `tx`'s store.
    /// - Parameters:
    ///   - encrypted: Whether the space encrypts payloads (to decode the ops).
    static func load(from tx: any StoreReader, encrypted: Bool) throws -> MemberLedger {
        var ledger = MemberLedger()
        if let bytes = try tx.metadata(controlsKey) {
            var reader = ByteReader(bytes)
            let count = try ConcordError.mapping("the stored membership ops") { try reader.readCount(what: "control bundles") }
            for _ in 0..<count {
                let length = try ConcordError.mapping("the stored membership ops") { try reader.readCount(what: "control bundle length") }
                let raw = try ConcordError.mapping("the stored membership ops") { Array(try reader.readBytes(length)) }
                let bundle = try ChangeBundle(bytes: raw, limits: BundleLimits(maxBundleBytes: .max))
                ledger.controls[bundle.id] = bundle
                if let record = try? bundle.membershipRecord(encrypted: encrypted) { ledger.records[bundle.id] = record }
            }
        }
        ledger.evidence = try ids(tx.metadata(evidenceKey))
        ledger.withheld = try places(tx.metadata(withheldKey))
        ledger.generation = try tx.metadata(generationKey)
        return ledger
    }

    /// Writes the ledger back if it changed.
    mutating func save(to tx: any StoreWriter) throws {
        guard isDirty else { return }
        var writer = ByteWriter()
        let sorted = controls.values.sorted { a, b in
            if a.author != b.author { return a.author < b.author }
            if a.sequence != b.sequence { return a.sequence < b.sequence }
            return a.id.bytes.lexicographicallyPrecedes(b.id.bytes)
        }
        writer.writeVarint(UInt64(sorted.count))
        for bundle in sorted {
            writer.writeVarint(UInt64(bundle.bytes.count))
            writer.write(contentsOf: bundle.bytes)
        }
        try tx.setMetadata(writer.bytes, for: Self.controlsKey)
        try tx.setMetadata(Self.bytes(evidence), for: Self.evidenceKey)
        try tx.setMetadata(Self.bytes(withheld), for: Self.withheldKey)
        let next = (try tx.metadata(Self.generationKey)).map { Self.counter($0) + 1 } ?? 1
        generation = (0..<8).map { UInt8(truncatingIfNeeded: next >> (56 - 8 * $0)) }
        try tx.setMetadata(generation, for: Self.generationKey)
        isDirty = false
    }

    static func counter(_ bytes: [UInt8]) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

    static func ids(_ bytes: [UInt8]?) throws -> Set<BundleID> {
        guard let bytes, !bytes.isEmpty else { return [] }
        guard bytes.count % 32 == 0 else {
            throw ConcordError(
                .storeDamaged,
                "the store's membership ledger is damaged (a list of bundle ids is \(bytes.count) bytes); restore the replica from a backup or join the space again"
            )
        }
        return Set(try stride(from: 0, to: bytes.count, by: 32).map { BundleID(digest: try Digest32(bytes: bytes[$0..<$0 + 32])) })
    }

    static func places(_ bytes: [UInt8]?) throws -> Set<BundlePlace> {
        guard let bytes, !bytes.isEmpty else { return [] }
        guard bytes.count % 40 == 0 else {
            throw ConcordError(
                .storeDamaged,
                "the store's membership ledger is damaged (a list of bundle places is \(bytes.count) bytes); restore the replica from a backup or join the space again"
            )
        }
        return Set(
            try stride(from: 0, to: bytes.count, by: 40).map { start in
                var sequence: UInt64 = 0
                for byte in bytes[start + 32..<start + 40] { sequence = sequence << 8 | UInt64(byte) }
                return BundlePlace(author: try PublicKey(bytes: bytes[start..<start + 32]), sequence: sequence)
            })
    }

    static func bytes(_ places: Set<BundlePlace>) -> [UInt8] {
        places.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) }.flatMap { place in
            place.author.bytes + (0..<8).map { UInt8(truncatingIfNeeded: place.sequence >> (56 - 8 * $0)) }
        }
    }

    static func bytes(_ ids: Set<BundleID>) -> [UInt8] {
        ids.map(\.bytes).sorted { $0.lexicographicallyPrecedes($1) }.flatMap { $0 }
    }

    /// The ledger of `tx`'s store and its state: `cached` when the store's ledger generation
    /// is still the one it was read or written at (no membership op changed since), else read
    /// and evaluated again.
    static func current(
        reusing cached: (ledger: MemberLedger, state: MembershipState)?, from tx: any StoreReader, spaceID: SpaceID, encrypted: Bool
    ) throws -> (ledger: MemberLedger, state: MembershipState) {
        if let cached, cached.ledger.generation != nil, try tx.metadata(generationKey) == cached.ledger.generation { return cached }
        let ledger = try load(from: tx, encrypted: encrypted)
        return (ledger, ledger.state(spaceID: spaceID, encrypted: encrypted))
    }

    /// The state of the ops held.
    func state(spaceID: SpaceID, encrypted: Bool) -> MembershipState {
        MembershipState.evaluate(ops: records.values, spaceID: spaceID, encrypted: encrypted)
    }
}

/// A place in a chain: an author's sequence number (one chain bundle at most).
struct BundlePlace: Hashable {
    let author: PublicKey
    let sequence: UInt64

    init(author: PublicKey, sequence: UInt64) {
        self.author = author
        self.sequence = sequence
    }

    init(_ bundle: ChangeBundle) { self.init(author: bundle.author, sequence: bundle.sequence) }
}
