import ConcordCore
import ConcordCrypto

/// The control payload (`Specs/membership.md` §3, format 1).
extension MembershipOp {
    /// The control payload format this build writes and reads.
    public static let payloadVersion: UInt8 = 1
    /// The longest member name in UTF-8 bytes.
    public static let maxNameBytes = 64

    /// Bytes of one `recipient ‖ sealed` pair.
    static let recipientBytes = PublicKey.byteCount + EpochField.sealedByteCount

    /// The op as a control payload: `version ‖ kind ‖ fields`.
    ///
    /// ```swift
    /// let payload = MembershipOp.revokeInvite(id: invite.publicKey, seen: []).encoded()
    /// assert(payload.prefix(2) == [0x01, 0x06])
    /// ```
    /// - Returns: The payload bytes. An op built with an out-of-range field (a bad name,
    ///   unsorted lists) encodes as given and is refused by the decoder and void in the
    ///   evaluation.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 128)
        w.write(Self.payloadVersion)
        w.write(kind.rawValue)
        switch self {
        case let .genesis(name, encrypted, signature, epoch):
            w.writeString(name)
            w.write(encrypted ? 1 : 0)
            w.write(contentsOf: signature.bytes)
            if let epoch { Self.write(epoch, to: &w) }
        case let .invite(id, role, expires, maxUses):
            w.write(contentsOf: id.bytes)
            Self.write(role, to: &w)
            w.writeFixed64(expires)
            w.writeVarint(maxUses)
        case let .join(invite, name, signature):
            w.write(contentsOf: invite.bytes)
            w.writeString(name)
            w.write(contentsOf: signature.bytes)
        case let .setRole(target, role, boundary):
            w.write(contentsOf: target.bytes)
            Self.write(role, to: &w)
            w.writeVarint(boundary)
        case let .remove(target, cutoff, keep, epoch):
            w.write(contentsOf: target.bytes)
            w.writeVarint(cutoff)
            Self.write(keep, to: &w)
            if let epoch { Self.write(epoch, to: &w) }
        case let .revokeInvite(id, seen):
            w.write(contentsOf: id.bytes)
            Self.write(seen, to: &w)
        case let .rotate(epoch):
            Self.write(epoch, to: &w)
        case let .grant(keyID, recipients):
            w.write(contentsOf: keyID.bytes)
            Self.write(recipients, to: &w)
        case let .successor(predecessor, cutoff, name, signature):
            w.write(contentsOf: predecessor.bytes)
            w.writeVarint(cutoff)
            w.writeString(name)
            w.write(contentsOf: signature.bytes)
        case let .setPolicy(seen, form):
            Self.write(seen, form, to: &w)
        case let .scopeKey(readers, epoch):
            w.writeVarint(UInt64(readers.count))
            for reader in readers { w.writeString(reader) }
            Self.write(epoch, to: &w)
        case let .ack(held):
            Self.write(held, to: &w)
        case let .stale(target, lastSeen, reason):
            w.write(contentsOf: target.bytes)
            w.writeVarint(lastSeen)
            w.write(reason.rawValue)
        case let .checkpoint(stable, seen, snapshot):
            Self.write(stable, to: &w)
            Self.write(seen, to: &w)
            w.write(contentsOf: snapshot?.bytes ?? [UInt8](repeating: 0, count: Digest32.byteCount))
        }
        return w.bytes
    }

    /// Decodes a control payload, checking everything the format states: the version and
    /// kind, role bytes, names (1 to 64 bytes of UTF-8, no control characters), counts
    /// (against the bytes left, before allocating), strictly increasing lists, positions
    /// ≥ 1, the epoch field present exactly in an encrypted space, and no trailing bytes.
    ///
    /// ```swift
    /// let op = try MembershipOp(payload: bundle.payload, encrypted: space.isEncrypted)
    /// ```
    /// - Parameters:
    ///   - payload: The control bundle's payload.
    ///   - encrypted: Whether the space encrypts payloads (its genesis flag, or the
    ///     invite token's).
    /// - Throws: ``ConcordError`` `.malformedBundle` naming the broken rule and the byte
    ///   offset; `.encryptionMismatch` for a genesis whose flag is not `encrypted`.
    public init(payload: [UInt8], encrypted: Bool) throws(ConcordError) {
        var r = ByteReader(payload)
        self = try ConcordError.mapping("membership op") { try Self.decode(&r, encrypted: encrypted) }
    }

    private static func decode(_ r: inout ByteReader, encrypted: Bool) throws -> MembershipOp {
        let version = try r.readByte()
        guard version == payloadVersion else {
            throw ConcordError(
                .malformedBundle,
                "membership op: control payload format \(version) is not known (this version of Concord reads format \(payloadVersion)); update Concord on this device"
            )
        }
        let kindByte = try r.readByte()
        guard let kind = Kind(rawValue: kindByte) else {
            throw ConcordError(
                .malformedBundle,
                "membership op: kind \(kindByte) is not known (kinds are 1 to 14); the op was made by a newer Concord or is corrupted"
            )
        }
        let op: MembershipOp
        switch kind {
        case .genesis:
            let name = try readName(&r)
            let flags = try r.readByte()
            guard flags & ~1 == 0 else { throw r.error("reserved genesis flag bits \(flags) are set") }
            let isEncrypted = flags == 1
            guard isEncrypted == encrypted else {
                throw ConcordError(
                    .encryptionMismatch,
                    "membership op: the genesis says the space is \(isEncrypted ? "" : "not ")encrypted, but it is read as \(encrypted ? "" : "not ")encrypted; the space's invite or store does not match this genesis"
                )
            }
            let signature = try Signature(bytes: r.readBytes(Signature.byteCount))
            let epoch = try isEncrypted ? readEpoch(&r) : nil
            if let epoch, !epoch.history.isEmpty { throw r.error("the genesis epoch has a history blob (it must be empty)") }
            op = .genesis(name: name, encrypted: isEncrypted, spaceSignature: signature, epoch: epoch)
        case .invite:
            let id = try readKey(&r)
            let role = try readRole(&r)
            let expires = try r.readFixed64()
            op = .invite(id: id, role: role, expires: expires, maxUses: try r.readVarint())
        case .join:
            let invite = try readKey(&r)
            let name = try readName(&r)
            op = .join(invite: invite, name: name, inviteSignature: try Signature(bytes: r.readBytes(Signature.byteCount)))
        case .setRole:
            let target = try readKey(&r)
            let role = try readRole(&r)
            op = .setRole(target: target, role: role, boundary: try readPosition(&r, "boundary"))
        case .remove:
            let target = try readKey(&r)
            let cutoff = try readPosition(&r, "cut-off")
            let keep = try readKeyList(&r, "keep")
            op = .remove(target: target, cutoff: cutoff, keep: keep, epoch: encrypted ? try readEpoch(&r) : nil)
        case .revokeInvite:
            let id = try readKey(&r)
            op = .revokeInvite(id: id, seen: try readKeyList(&r, "seen"))
        case .rotate:
            guard encrypted else { throw r.error("a rotate op in an unencrypted space (it has no epochs)") }
            op = .rotate(try readEpoch(&r))
        case .grant:
            let keyID = try EpochKeyID(bytes: r.readBytes(EpochKeyID.byteCount))
            op = .grant(keyID: keyID, recipients: try readRecipients(&r, "grant"))
        case .successor:
            let predecessor = try readKey(&r)
            let cutoff = try readPosition(&r, "cut-off")
            let name = try readName(&r)
            op = .successor(
                predecessor: predecessor, cutoff: cutoff, name: name,
                predecessorSignature: try Signature(bytes: r.readBytes(Signature.byteCount)))
        case .setPolicy:
            op = try readSetPolicy(&r, encrypted: encrypted)
        case .scopeKey:
            guard encrypted else { throw r.error("a scope-key op in an unencrypted space (it has no epochs)") }
            op = .scopeKey(readers: try readScopeReaders(&r), epoch: try readEpoch(&r))
        case .ack:
            op = .ack(held: try readVector(&r, "held"))
        case .stale:
            let target = try readKey(&r)
            let lastSeen = try r.readVarint()
            let reasonByte = try r.readByte()
            guard let reason = StaleReason(rawValue: reasonByte) else {
                throw r.error("stale reason \(reasonByte) is not known (01 admin, 02 policy)")
            }
            op = .stale(target: target, lastSeen: lastSeen, reason: reason)
        case .checkpoint:
            let stable = try readVector(&r, "stable")
            let seen = try readVector(&r, "seen")
            let snapshot = try Digest32(bytes: r.readBytes(Digest32.byteCount))
            op = .checkpoint(stable: stable, seen: seen, snapshot: snapshot.bytes.allSatisfy { $0 == 0 } ? nil : snapshot)
        }
        guard r.isAtEnd else {
            throw r.error(
                "\(r.remaining) trailing bytes after the \(kind) op\(encrypted ? "" : " (an epoch field in an unencrypted space?)")")
        }
        return op
    }

    // MARK: - Fields

    private static func readKey(_ r: inout ByteReader) throws -> PublicKey {
        try PublicKey(bytes: r.readBytes(PublicKey.byteCount))
    }

    private static func readRole(_ r: inout ByteReader) throws -> RoleAssignment {
        let byte = try r.readByte()
        if let role = MemberRole(byte: byte) { return RoleAssignment(role) }
        guard byte == RoleAssignment.namedByte else {
            throw r.error("role byte \(byte) names no role (01 admin, 02 writer, 03 reader, 04 named)")
        }
        let baseByte = try r.readByte()
        guard let base = MemberRole(byte: baseByte), base != .admin else {
            throw r.error("a named role with base byte \(baseByte) (the base is 02 writer or 03 reader)")
        }
        let name = try r.readString()
        if let problem = RoleAssignment.problem(name: name, base: base) { throw r.error(problem) }
        return try RoleAssignment(named: name, base: base)
    }

    private static func write(_ role: RoleAssignment, to w: inout ByteWriter) {
        guard let name = role.name else { return w.write(role.base.byte) }
        w.write(RoleAssignment.namedByte)
        w.write(role.base.byte)
        w.writeString(name)
    }

    private static func readPosition(_ r: inout ByteReader, _ what: String) throws -> UInt64 {
        let value = try r.readVarint()
        guard value >= 1 else { throw r.error("a \(what) of 0 (chain positions start at 1)") }
        return value
    }

    private static func readName(_ r: inout ByteReader) throws -> String {
        let name = try r.readString()
        if let problem = nameProblem(name) { throw r.error(problem) }
        return name
    }

    /// Why `name` is not a valid member name, or `nil` when it is.
    static func nameProblem(_ name: String) -> String? {
        let count = name.utf8.count
        guard (1...maxNameBytes).contains(count) else { return "a name of \(count) bytes (names are 1 to \(maxNameBytes) bytes of UTF-8)" }
        if let bad = name.unicodeScalars.first(where: isControl) {
            return "a name holding the control character U+\(String(bad.value, radix: 16, uppercase: true))"
        }
        return nil
    }

    /// C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F): Unicode category Cc.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func readKeyList(_ r: inout ByteReader, _ what: String) throws -> [PublicKey] {
        let count = try r.readCount(minimumItemSize: PublicKey.byteCount, what: "\(what) list")
        var keys: [PublicKey] = []
        keys.reserveCapacity(count)
        for _ in 0..<count { keys.append(try readKey(&r)) }
        guard isStrictlyIncreasing(keys) else { throw r.error("the \(what) list is not strictly increasing (unsorted or repeated)") }
        return keys
    }

    private static func readRecipients(_ r: inout ByteReader, _ what: String) throws -> [EpochField.Recipient] {
        let start = r.offset
        let count = try r.readCount(minimumItemSize: recipientBytes, what: "\(what) recipient")
        guard (1...EpochField.maxRecipients).contains(count) else {
            throw ConcordError(
                .malformedBundle,
                "membership op: \(what) recipient count \(count) at byte \(start) (it must be 1 to \(EpochField.maxRecipients))")
        }
        var recipients: [EpochField.Recipient] = []
        recipients.reserveCapacity(count)
        for _ in 0..<count {
            let key = try readKey(&r)
            recipients.append(EpochField.Recipient(key: key, sealed: Array(try r.readBytes(EpochField.sealedByteCount))))
        }
        guard isStrictlyIncreasing(recipients.map(\.key)) else {
            throw r.error("the \(what) recipients are not strictly increasing (unsorted or repeated)")
        }
        return recipients
    }

    private static func readEpoch(_ r: inout ByteReader) throws -> EpochField {
        let keyID = try EpochKeyID(bytes: r.readBytes(EpochKeyID.byteCount))
        let recipients = try readRecipients(&r, "epoch")
        let history = try r.readLengthPrefixed()
        return try EpochField(keyID: keyID, recipients: recipients, history: history)
    }

    private static func write(_ keys: [PublicKey], to w: inout ByteWriter) {
        w.writeVarint(UInt64(keys.count))
        for key in keys { w.write(contentsOf: key.bytes) }
    }

    private static func write(_ recipients: [EpochField.Recipient], to w: inout ByteWriter) {
        w.writeVarint(UInt64(recipients.count))
        for recipient in recipients {
            w.write(contentsOf: recipient.key.bytes)
            w.write(contentsOf: recipient.sealed)
        }
    }

    private static func write(_ epoch: EpochField, to w: inout ByteWriter) {
        w.write(contentsOf: epoch.keyID.bytes)
        write(epoch.recipients, to: &w)
        w.writeLengthPrefixed(epoch.history)
    }
}
