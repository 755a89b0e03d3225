import ConcordCore
import ConcordCrypto
import Testing

@testable import Concord
@testable import ConcordProtocol

/// A fixed point in time for reproducible certificates and clocks: 2023-11-14T22:13:20Z.
let t0: UInt64 = 1_700_000_000_000

/// An identity whose 32-byte seed is all `byte`.
func identity(_ byte: UInt8) -> Identity { try! Identity(seed: [UInt8](repeating: byte, count: 32)) }

/// A space whose seed is all `byte`.
func space(_ byte: UInt8, encrypted: Bool = true) -> Space {
    try! Space(seed: SecretBytes([UInt8](repeating: byte, count: 32)), encrypted: encrypted)
}

/// A writer membership of `space` for the device with seed byte `device`, issued at `t0`.
func writer(_ device: UInt8, of space: Space) -> Membership {
    Membership(writer: identity(device), of: space, issuedAt: t0)
}

let todo = RecordID(high: 0xE621_E1F8_C36C_495A, low: 0x93FC_0C24_7A3E_6E5F)
let other = RecordID(high: 2, low: 2)

/// Decodes lowercase hex (test vectors only; traps on malformed input).
func bytes(hex: String) -> [UInt8] {
    let utf8 = Array(hex.utf8)
    return stride(from: 0, to: utf8.count, by: 2).map { UInt8(String(decoding: utf8[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// One device of a space: membership, replica (on a shared manual clock), log, importer.
struct Device {
    let membership: Membership
    var replica: LocalReplica
    var log = BundleLog()
    var limits: BundleLimits

    init(_ membership: Membership, time: ManualClock, limits: BundleLimits = .default) {
        self.membership = membership
        self.replica = membership.makeReplica(clock: HybridLogicalClock(physicalClock: time))
        self.limits = limits
    }

    var importer: BundleImporter { BundleImporter(membership: membership, limits: limits) }
    var key: PublicKey { membership.device.publicKey }

    /// Sets a field and returns the operation.
    mutating func set(_ field: String, _ value: Value, record: RecordID = todo, in collection: String = "todos") throws -> RecordOperation {
        try replica.set(field, to: value, record: record, in: collection)
    }

    /// Seals `ops` as the next bundle of this device and appends it to the log.
    mutating func seal(_ ops: [RecordOperation]) throws -> ChangeBundle {
        try membership.seal(ops, appendingTo: &log)
    }

    mutating func receive(_ bytes: [UInt8]) -> ImportOutcome {
        importer.importBundle(bytes, into: &replica, log: &log)
    }

    mutating func receive(_ bundle: ChangeBundle) -> ImportOutcome { receive(bundle.bytes) }

    /// Imports everything `peer` has that this device lacks, in the peer's order.
    mutating func pull(from peer: Device) -> [ImportOutcome] {
        peer.log.bundles(since: log.versionVector).map { receive($0) }
    }

    /// Everything an import must leave untouched when it rejects a bundle.
    var snapshot: Snapshot { Snapshot(state: replica.state, clock: replica.clock.last, log: log) }
}

struct Snapshot: Equatable {
    var state: ReplicaState
    var clock: HLCTimestamp
    var log: BundleLog
}

/// Expects `body` to throw a ``ConcordError`` with `code`; returns it for further checks.
@discardableResult
func expectError<R>(_ code: ConcordError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R) -> ConcordError? {
    let error = #expect(throws: ConcordError.self, sourceLocation: sourceLocation) { _ = try body() }
    #expect(error?.code == code, "got \(String(describing: error))", sourceLocation: sourceLocation)
    return error
}

/// Expects an import to be rejected with `code` and to leave `device` exactly as it was.
func expectRejected(_ code: ConcordError.Code, _ bytes: [UInt8], by device: inout Device, sourceLocation: SourceLocation = #_sourceLocation)
{
    let before = device.snapshot
    let outcome = device.receive(bytes)
    #expect(outcome.error?.code == code, "got \(outcome)", sourceLocation: sourceLocation)
    #expect(device.snapshot == before, "a rejected bundle changed the device", sourceLocation: sourceLocation)
}

/// Imports `bytes` and expects it void (wire-format §7.7, step 11): taken into its author's
/// chain with no operation applied and the clock unchanged, reported with `code`.
func expectVoid(_ code: ConcordError.Code, _ bytes: [UInt8], by device: inout Device, sourceLocation: SourceLocation = #_sourceLocation) {
    let before = device.snapshot
    let outcome = device.receive(bytes)
    guard case .applied(let ids) = outcome, let id = ids.first else {
        Issue.record("expected a void bundle, got \(outcome)", sourceLocation: sourceLocation)
        return
    }
    #expect(device.replica.state == before.state, "a void bundle changed the state", sourceLocation: sourceLocation)
    #expect(device.replica.clock.last == before.clock, "a void bundle moved the clock", sourceLocation: sourceLocation)
    #expect(device.log.bundles.last?.id == id && device.log.bundles.count == before.log.bundles.count + 1, sourceLocation: sourceLocation)
    #expect(
        device.log.voided.last?.id == id && device.log.voided.last?.reason.code == code, "voided: \(device.log.voided)",
        sourceLocation: sourceLocation)
}

/// Builds and signs a bundle with arbitrary header fields and plaintext operations,
/// bypassing every check of sealing: for forging hostile input.
func forge(
    ops: [RecordOperation], signer: Identity, certificates: CertificateChain, spaceID: SpaceID,
    author: PublicKey? = nil, sequence: UInt64 = 1, previous: BundleID = .zero,
    hlcRange: ClosedRange<HLCTimestamp>? = nil, contentKey: SymmetricKey? = nil, encryptedFlag: Bool? = nil,
    plaintext: [UInt8]? = nil
) throws -> ChangeBundle {
    let stamps = ops.map(\.stamp.hlc)
    let header = ChangeBundle.encodeHeader(
        isEncrypted: encryptedFlag ?? (contentKey != nil), spaceID: spaceID, author: author ?? signer.publicKey,
        sequence: sequence, previous: previous, hlcRange: hlcRange ?? (stamps.min() ?? .zero)...(stamps.max() ?? .zero),
        certificates: certificates)
    var payload = plaintext ?? [0] + OperationCodec.encode(ops)  // an empty causal context, then the batch
    if let contentKey { payload = XChaCha20Poly1305.seal(payload, using: contentKey, authenticating: header).combined }
    return try ChangeBundle.assemble(header: header, payload: payload, signer: signer)
}

/// An operation stamped by `replica` at `t0 + ms`.
func op(_ action: RecordOperation.Action, by replica: ReplicaID, at ms: UInt64, counter: UInt16 = 0, record: RecordID = todo)
    -> RecordOperation
{
    RecordOperation(
        stamp: Stamp(hlc: HLCTimestamp(milliseconds: t0 + ms, counter: counter), replica: replica), collection: "todos", record: record,
        action: action)
}
