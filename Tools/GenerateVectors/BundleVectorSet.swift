// Collects the cases of Specs/vectors/bundles.jsonl, runs each through the real
// `BundleImporter` before anything is written, and renders one JSON line per case.
//
// A case states what it expects (an outcome, or an error code); the generator imports
// `import_before` and then the case into a fresh observer replica whose physical clock
// reads `now_ms`, and records a problem when the importer disagrees. The lines carry
// what happened (state digest, applied ids, ...), so the conformance test and other
// implementations can compare against it.
import Concord
import ConcordCore
import ConcordCrypto
import Foundation

/// What importing a case must give.
enum BundleExpectation {
    case applied, duplicate, held, fork
    case error(ConcordError.Code)

    /// The `expected` field: `valid`, or the error code's name.
    var expected: String {
        if case .error(let code) = self { return code.description }
        return "valid"
    }

    /// The `outcome` field of a valid case.
    var outcome: String? {
        switch self {
        case .applied: "applied"
        case .duplicate: "duplicate"
        case .held: "held"
        case .fork: "fork"
        case .error: nil
        }
    }
}

struct BundleCase {
    var name: String
    var description: String
    var space: SpaceFixture
    var bytes: [UInt8]
    var expect: BundleExpectation
    /// Names of earlier cases whose bundles are imported first, in order.
    var importBefore: [String] = []
    var now: UInt64 = BundleFixtures.now
    var limits: BundleLimits = .default
    /// The valid case this one was altered from (for the Ed25519 cross-check).
    var derivedFrom: String?
}

struct BundleVectorSet {
    private(set) var lines: [String] = []
    private(set) var problems: [String] = []
    private var bytesByName: [String: [UInt8]] = [:]

    /// The bytes of an earlier case.
    func bytes(of name: String) -> [UInt8] {
        guard let bytes = bytesByName[name] else { preconditionFailure("no earlier bundle case named \(name)") }
        return bytes
    }

    mutating func add(_ c: BundleCase) {
        if bytesByName[c.name] != nil { problems.append("bundle \(c.name): duplicate name") }
        do {
            lines.append(try render(c))
        } catch {
            problems.append("bundle \(c.name): \(error)")
        }
        bytesByName[c.name] = c.bytes
    }

    private func render(_ c: BundleCase) throws -> String {
        let observer = try BundleFixtures.observer(of: c.space)
        let importer = BundleImporter(membership: observer, limits: c.limits)
        var replica = observer.makeReplica(clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: c.now), maxDrift: BundleFixtures.maxDrift))
        var log = BundleLog()
        for name in c.importBefore {
            if let error = importer.importBundle(bytes(of: name), into: &replica, log: &log).error {
                throw Failure("importing \(name) first was rejected: \(error)")
            }
        }
        let voidedBefore = log.voided.count
        let outcome = importer.importBundle(c.bytes, into: &replica, log: &log)
        // A case whose expected error is a payload failure of a bundle that extends its
        // chain is void: applied into the chain with nothing applied (section 7.7, step 11).
        let void = log.voided.count > voidedBefore ? log.voided.last : nil
        try check(outcome, against: c.expect, void: void)

        var pairs: [(String, JSON)] = [("name", .string(c.name)), ("description", .string(c.description)),
                                       ("expected", .string(c.expect.expected))]
        if void != nil { pairs.append(("void", .bool(true))) }
        if let name = c.expect.outcome { pairs.append(("outcome", .string(name))) }
        pairs += [
            ("space_seed_hex", .string(hex(c.space.seed))), ("encrypted", .bool(c.space.encrypted)),
            ("now_ms", .number(c.now)), ("max_drift_ms", .number(BundleFixtures.maxDrift)),
            ("max_bundle_bytes", .number(UInt64(c.limits.maxBundleBytes))),
            ("max_held_bundles", .number(UInt64(c.limits.maxHeldBundles))),
            ("import_before", .array(c.importBefore.map { .string($0) })),
        ]
        if let original = c.derivedFrom { pairs.append(("derived_from", .string(original))) }
        pairs.append(("bundle_hex", .string(hex(c.bytes))))

        payload: if c.expect.outcome != nil {
            let bundle = try ChangeBundle(bytes: c.bytes, limits: c.limits)
            pairs += [
                ("author_public_key_hex", .string(bundle.author.hex)), ("sequence", .number(bundle.sequence)),
                ("signed_bytes_hex", .string(hex(bundle.signedBytes))), ("signature_hex", .string(bundle.signature.hex)),
                ("bundle_id_hex", .string(bundle.id.hex)),
            ]
            // A fork or a duplicate is decided before the payload is opened (section 7.7,
            // steps 9-10): such a case may carry a payload that does not open, and then
            // has no payload keys.
            let contents: BundleContents
            do {
                contents = try observer.contents(of: bundle)
            } catch where c.expect.outcome == "fork" || c.expect.outcome == "duplicate" {
                break payload
            }
            var plaintext = Array(bundle.payload)
            if bundle.isEncrypted {
                plaintext = try XChaCha20Poly1305.open(XChaCha20Poly1305.SealedBox(combined: plaintext), using: c.space.contentKey, authenticating: bundle.header)
            }
            // The plaintext is the context as encoded (one encoding per vector), then the batch.
            var context = ByteWriter()
            contents.context.encodeContext(into: &context)
            guard plaintext.starts(with: context.bytes) else { throw Failure("the plaintext does not start with its causal context") }
            let batch = Array(plaintext.dropFirst(context.bytes.count))
            guard try OperationCodec.decode(batch) == contents.operations else { throw Failure("the batch after the context is not the operations") }
            let entries = contents.context.entries.sorted { $0.key < $1.key }
            pairs += [
                ("plaintext_hex", .string(hex(plaintext))),
                ("context", .array(entries.map { .object([("author", .string($0.key.hex)), ("seq", .number($0.value))]) })),
                ("batch_hex", .string(hex(batch))), ("ops", .array(contents.operations.map { json($0) })),
            ]
        }
        switch outcome {
        case .applied(let ids): pairs.append(("applied_ids_hex", .array(ids.map { .string($0.hex) })))
        case .held(let sequence): pairs.append(("waiting_for", .number(sequence)))
        case .fork(_, let sequence): pairs.append(("fork_sequence", .number(sequence)))
        case .duplicate, .rejected: break
        }
        pairs.append(("state_digest_hex", .string(replica.state.digestHex)))
        return line(pairs)
    }

    private func check(_ outcome: ImportOutcome, against expect: BundleExpectation, void: VoidedBundle?) throws {
        switch (outcome, expect) {
        case (.applied, .applied) where void == nil, (.duplicate, .duplicate), (.held, .held), (.fork, .fork): return
        case (.rejected(let error), .error(let code)) where error.code == code: return
        case (.applied(let ids), .error(let code)) where void?.reason.code == code && ids.first == void?.id: return
        default: throw Failure("expected \(expect.expected) \(expect.outcome ?? ""), the importer returned \(outcome)")
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
