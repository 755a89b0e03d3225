// Specs/vectors/membership.jsonl: control payloads of membership ops (Specs/membership.md
// section 3) and whole histories evaluated with MembershipState (sections 5 to 7).
//
// Decode cases give a payload, whether the space is encrypted, and "valid" (with the
// kind) or the error code. Evaluate cases give a space, its ops in ARRIVAL order (never
// the processing order, so an implementation that applies ops as they come fails), the
// state the evaluation must produce and admission decisions. Keys are fixed test seeds
// (a repeated byte), every signature is real Ed25519 (deterministic), bundle ids are
// BLAKE2b-256 of author, position, stamp and payload. TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto

@MainActor var membershipLines: [String] = []

/// A history under construction: ops with positions and stamps, as `MembershipScenario`
/// in the tests.
struct MembershipHistoryBuilder {
    let spaceKey: Identity
    let encrypted: Bool
    var spaceID: SpaceID { SpaceID(publicKey: spaceKey.publicKey) }
    var next: [PublicKey: UInt64] = [:]
    var records: [MembershipOpRecord] = []
    var names: [String: MembershipOpRecord] = [:]
    var clock: UInt64 = 1_800_000_000_000
    var keyCounter: UInt8 = 0

    static func key(_ byte: UInt8) -> Identity { try! Identity(seed: [UInt8](repeating: byte, count: 32)) }
    static func stamp(_ ms: UInt64) -> UInt64 { HLCTimestamp(milliseconds: ms, counter: 0).rawValue }

    init(encrypted: Bool, spaceSeed: UInt8 = 0x50) {
        spaceKey = Self.key(spaceSeed)
        self.encrypted = encrypted
    }

    @discardableResult
    mutating func add(_ label: String, _ op: MembershipOp, by author: PublicKey, at ms: UInt64? = nil, position: UInt64? = nil) -> MembershipOpRecord {
        let k = position ?? next[author, default: 1]
        next[author] = max(next[author, default: 1], k + 1)
        if let ms { clock = max(clock, ms) } else { clock += 1 }
        let t = Self.stamp(ms ?? clock)
        var id = Blake2b()
        id.update(author.bytes)
        id.update(withUnsafeBytes(of: k.littleEndian) { Array($0) })
        id.update(withUnsafeBytes(of: t.littleEndian) { Array($0) })
        id.update(op.encoded())
        let record = MembershipOpRecord(op: op, author: author, position: k, stamp: t, bundleID: BundleID(digest: try! Digest32(bytes: id.finalize())))
        records.append(record)
        names[label] = record
        return record
    }

    mutating func write(_ device: Identity, bundles: UInt64 = 1) { next[device.publicKey, default: 1] += bundles }

    mutating func epoch(_ recipients: [PublicKey]) -> EpochField {
        keyCounter &+= 1
        let boxes = Set(recipients).sorted().map { EpochField.Recipient(key: $0, sealed: [UInt8](repeating: keyCounter, count: 80)) }
        return try! EpochField(keyID: EpochKeyID(bytes: [UInt8](repeating: keyCounter, count: 16)), recipients: boxes)
    }

    mutating func genesis(_ admin: Identity, name: String, at ms: UInt64 = 1_800_000_000_000) {
        let epoch = encrypted ? self.epoch([admin.publicKey]) : nil
        add("genesis", MembershipStatement.genesis(space: spaceKey, author: admin.publicKey, name: name, stamp: Self.stamp(ms), epoch: epoch), by: admin.publicKey, at: ms)
    }

    mutating func join(_ label: String, _ device: Identity, with invite: Identity, name: String, at ms: UInt64? = nil) {
        add(label, MembershipStatement.join(invite: invite, spaceID: spaceID, author: device.publicKey, name: name), by: device.publicKey, at: ms)
    }

    func evaluate() -> MembershipState { MembershipState.evaluate(ops: records, spaceID: spaceID, encrypted: encrypted) }
}

// MARK: - JSON of a state

func json(_ state: MembershipState) -> JSON {
    let members = state.members.map { m -> JSON in
        var pairs: [(String, JSON)] = [("device", .string(m.device.hex)), ("name", .string(m.name)), ("role", .string("\(m.role)")),
                                       ("status", .string(m.status.rawValue))]
        if let cut = m.cut {
            pairs += [("cutoff", .number(cut.cutoff)), ("removed_by", .string(cut.by.author.hex)), ("removed_at", .string(String(cut.by.stamp)))]
        }
        if let retired = m.retired { pairs.append(("retired_after", .number(retired))) }
        return .object(pairs)
    }
    let invites = state.invites.map { i -> JSON in
        .object([("id", .string(i.id.hex)), ("role", .string("\(i.role)")), ("expires", .string(String(i.expires))),
                 ("max_uses", .number(i.maxUses)), ("uses", .number(i.uses)), ("revoked", .bool(i.isRevoked))])
    }
    let epochs = state.epochs.map { e -> JSON in
        .object([("key_id", .string(e.keyID.hex)), ("kind", .string("\(e.kind)")), ("recipients", .array(e.recipients.map { .string($0.hex) })),
                 ("tainted", .bool(e.isTainted))])
    }
    return .object([
        ("members", .array(members)), ("invites", .array(invites)), ("epochs", .array(epochs)),
        ("current_epoch", .string(state.currentEpoch?.keyID.hex ?? "")),
        ("void", .array(state.voidOps.map { .string($0.bundleID.hex) })),
        ("pending", .array(state.pendingOps.map { .string($0.bundleID.hex) })),
    ])
}

// MARK: - Cases

@MainActor func membershipDecodeCase(_ name: String, _ description: String, _ payload: [UInt8], encrypted: Bool, _ expected: String) {
    var got = "valid"
    var pairs: [(String, JSON)] = [("name", .string(name)), ("type", .string("decode")), ("description", .string(description)),
                                   ("encrypted", .bool(encrypted)), ("payload_hex", .string(hex(payload)))]
    do {
        let op = try MembershipOp(payload: payload, encrypted: encrypted)
        if op.encoded() != payload { problems.append("membership \(name): re-encodes differently") }
        pairs.append(("kind", .string("\(op.kind)")))
    } catch {
        got = "\(error.code)"
    }
    if got != expected { problems.append("membership \(name): expected \(expected), got \(got)") }
    pairs.insert(("expected", .string(expected)), at: 1)
    membershipLines.append(line(pairs))
}

/// An evaluate case. `arrival` lists the op labels in the order they are written (the
/// arrival order); `checks` are admissions; `verify` asserts what the case is about, so a
/// generator change cannot silently turn it into another case.
@MainActor func membershipEvaluateCase(
    _ name: String, _ description: String, _ h: MembershipHistoryBuilder, arrival: [MembershipOpRecord]? = nil,
    admissions: [(Identity, UInt64, Bool)], governs: [(Identity, UInt64)] = [], stability: [StabilityCheck] = [],
    verify: (MembershipState) -> Bool
) {
    let order = arrival ?? h.records.reversed()
    if Set(order) != Set(h.records) { problems.append("membership \(name): arrival order misses ops") }
    let state = h.evaluate()
    if MembershipState.evaluate(ops: order, spaceID: h.spaceID, encrypted: h.encrypted) != state { problems.append("membership \(name): order matters") }
    if !verify(state) { problems.append("membership \(name): the state is not what the case is about") }
    let ops = order.map { r -> JSON in
        .object([("author", .string(r.author.hex)), ("position", .number(r.position)), ("stamp", .string(String(r.stamp))),
                 ("bundle_id", .string(r.bundleID.hex)), ("payload_hex", .string(hex(r.op.encoded())))])
    }
    let checks = admissions.map { device, k, control -> JSON in
        .object([("author", .string(device.publicKey.hex)), ("sequence", .number(k)), ("control", .bool(control)),
                 ("expected", .string("\(state.admission(author: device.publicKey, sequence: k, isControl: control))"))])
    }
    var pairs: [(String, JSON)] = [
        ("name", .string(name)), ("expected", .string("valid")), ("type", .string("evaluate")), ("description", .string(description)),
        ("space_id_hex", .string(h.spaceID.hex)), ("encrypted", .bool(h.encrypted)), ("ops", .array(ops)), ("state", json(state)),
        ("admissions", .array(checks)),
    ]
    // Specs/permissions.md §3.2 and §4.1, only in the cases about policies (earlier cases
    // keep their bytes): the applied set-policy ops in order, and G(A, k) lookups.
    if !state.scopeEpochs.isEmpty {
        pairs.append(("scope_epochs", .array(state.scopeEpochs.map { e -> JSON in
            .object([("scope", .string(e.scope.hex)), ("readers", .array(e.readers.map { .string($0) })), ("key_id", .string(e.keyID.hex)),
                     ("recipients", .array(e.recipients.map { .string($0.hex) })), ("tainted", .bool(e.isTainted))])
        })))
    }
    if !state.policies.isEmpty || !governs.isEmpty {
        let policies = state.policies.map { p -> JSON in
            let seen = p.seen.entries.sorted { $0.key < $1.key }.map { ($0.key.hex, JSON.number($0.value)) }
            return .object([("bundle_id", .string(p.by.bundleID.hex)), ("form", .number(UInt64(p.form.byte))), ("seen", .object(seen))])
        }
        let lookups = governs.map { device, k -> JSON in
            .object([("author", .string(device.publicKey.hex)), ("sequence", .number(k)),
                     ("expected", .string(state.governingPolicy(author: device.publicKey, sequence: k)?.by.bundleID.hex ?? ""))])
        }
        pairs += [("policies", .array(policies)), ("governs", .array(lookups))]
    }
    // Specs/snapshots.md §2 and §3, only in the cases about stability (earlier cases keep
    // their bytes): applied checkpoints, each member's finality, stale mark and last ack,
    // and stable-cut computations.
    let touched = state.members.contains { $0.finalThrough > 0 || $0.staleSince != nil || $0.lastAck != nil }
    if !state.checkpoints.isEmpty || touched || !stability.isEmpty {
        pairs += stabilityJSON(state, stability)
    }
    membershipLines.append(line(pairs))
}
