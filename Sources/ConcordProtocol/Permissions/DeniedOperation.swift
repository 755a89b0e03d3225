import ConcordCore
import ConcordCrypto

/// One record op of an applied data bundle that the permission decision denied
/// (`Specs/permissions.md` §6.3): where it sits, what it is, and why. Denials are derived
/// data, like the record state: every replica holding the bundle and the policy reaches the
/// same ones, and they are recomputed when a policy, role or key arrives late (§6.4).
///
/// ```swift
/// for denied in try replica.deniedOperations() {
///     print(denied.sequence, denied.denial.message)
///     // 4 learners may not write field `grade` of collection `results`
/// }
/// ```
public struct DeniedOperation: Hashable, Sendable, CustomStringConvertible {
    /// The data bundle carrying the op.
    public let bundleID: BundleID
    /// Its author `A`.
    public let author: PublicKey
    /// Its position `k` in the author's chain.
    public let sequence: UInt64
    /// The section of the bundle (0: general; scope sections come with read scopes).
    public let section: Int
    /// The op's index in its section, from 0.
    public let index: Int
    /// The op's stamp.
    public let stamp: Stamp
    /// The op's record.
    public let record: RecordID
    /// The op's kind.
    public let kind: PolicyDecision.Operation.Kind
    /// Why: reason code, role, collection, field and message.
    public let denial: PolicyDenial
    /// The `set-policy` op's bundle that governed the decision; `nil` when no policy
    /// governed (a policy role without a policy).
    public let policy: BundleID?

    /// A denial.
    /// - Parameters:
    ///   - bundleID: The data bundle.
    ///   - author: Its author.
    ///   - sequence: Its position.
    ///   - section: The section (0: general).
    ///   - index: The op's index in the section.
    ///   - stamp: The op's stamp.
    ///   - record: The op's record.
    ///   - kind: The op's kind.
    ///   - denial: The decision's reason and message.
    ///   - policy: The governing `set-policy` op's bundle, if any.
    public init(
        bundleID: BundleID, author: PublicKey, sequence: UInt64, section: Int, index: Int, stamp: Stamp, record: RecordID,
        kind: PolicyDecision.Operation.Kind, denial: PolicyDenial, policy: BundleID?
    ) {
        self.bundleID = bundleID
        self.author = author
        self.sequence = sequence
        self.section = section
        self.index = index
        self.stamp = stamp
        self.record = record
        self.kind = kind
        self.denial = denial
        self.policy = policy
    }

    /// The collection of the op.
    public var collection: String { denial.collection }
    /// The field of the op (`set`, `add`, `remove`).
    public var field: String? { denial.field }

    /// `bundle 4 of 7f3e…, op 2: field: learners may not write ...`.
    public var description: String {
        "bundle \(sequence) of \(author.hex.prefix(8)), op \(index): \(denial)"
    }
}

extension DeniedOperation {
    /// The stored form (`Specs/storage-schema.md`, `permission_denials.detail`): stamp,
    /// record, kind, role, reason code, collection, field, message and policy, in a
    /// versioned binary layout.
    package var detailBytes: [UInt8] {
        var w = ByteWriter()
        w.write(1)
        w.writeFixed64(stamp.hlc.rawValue)
        w.write(contentsOf: stamp.replica.bytes)
        w.write(contentsOf: record.bytes)
        for text in [kind.rawValue, denial.role, denial.reason.code, denial.collection, denial.field ?? "", denial.message] {
            w.writeString(text)
        }
        w.write(denial.field == nil ? 0 : 1)
        if let policy {
            w.write(1)
            w.write(contentsOf: policy.bytes)
        } else {
            w.write(0)
        }
        return w.bytes
    }

    /// Reads ``detailBytes`` back.
    /// - Throws: ``ConcordError`` `.storeDamaged` when the bytes are not a denial.
    package init(bundleID: BundleID, author: PublicKey, sequence: UInt64, section: Int, index: Int, detail: [UInt8]) throws {
        func damaged() -> ConcordError {
            ConcordError(.storeDamaged, "the store's permission denials are damaged; run `concord rebuild` to recompute them")
        }
        var r = ByteReader(detail)
        do {
            guard try r.readByte() == 1 else { throw damaged() }
            let hlc = HLCTimestamp(rawValue: try r.readFixed64())
            guard let replica = ReplicaID(bytes: Array(try r.readBytes(32))), let record = RecordID(bytes: Array(try r.readBytes(16)))
            else { throw damaged() }
            var texts: [String] = []
            for _ in 0..<6 { texts.append(try r.readString()) }
            let hasField = try r.readByte() == 1
            var policy: BundleID?
            if try r.readByte() == 1 { policy = BundleID(digest: try Digest32(bytes: try r.readBytes(32))) }
            guard let kind = PolicyDecision.Operation.Kind(rawValue: texts[0]), let reason = PolicyDenial.Reason(code: texts[2]) else {
                throw damaged()
            }
            self.init(
                bundleID: bundleID, author: author, sequence: sequence, section: section, index: index,
                stamp: Stamp(hlc: hlc, replica: replica), record: record, kind: kind,
                denial: PolicyDenial(
                    reason: reason, role: texts[1], collection: texts[3], field: hasField ? texts[4] : nil, message: texts[5]),
                policy: policy)
        } catch let error as ConcordError {
            throw error
        } catch {
            throw damaged()
        }
    }
}
