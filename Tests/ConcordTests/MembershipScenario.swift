import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// Builds membership histories of really signed ops for the evaluation tests: a space key,
/// devices with fixed seeds, each device's next chain position, and stamps that advance
/// one millisecond per op unless a test gives them.
struct MembershipScenario {
    let spaceKey: Identity
    let encrypted: Bool
    var spaceID: SpaceID { SpaceID(publicKey: spaceKey.publicKey) }
    /// The next position of each device's chain.
    var next: [PublicKey: UInt64] = [:]
    /// Every op made so far, in the order made.
    var records: [MembershipOpRecord] = []
    /// Milliseconds of the next default stamp.
    var clock: UInt64 = 1_800_000_000_000
    var keyCounter: UInt8 = 0

    init(encrypted: Bool = false, spaceSeed: UInt8 = 0xAA) {
        spaceKey = identity(spaceSeed)
        self.encrypted = encrypted
    }

    /// An HLC raw stamp at `ms` milliseconds.
    static func stamp(_ ms: UInt64) -> UInt64 { HLCTimestamp(milliseconds: ms, counter: 0).rawValue }

    /// Adds `op` by `author` at its next position (or `position`), stamped `at` ms (or the
    /// next default stamp).
    @discardableResult
    mutating func add(_ op: MembershipOp, by author: PublicKey, at ms: UInt64? = nil, position: UInt64? = nil) -> MembershipOpRecord {
        let k = position ?? next[author, default: 1]
        next[author] = max(next[author, default: 1], k + 1)
        let time: UInt64
        if let ms {
            time = ms
        } else {
            clock += 1
            time = clock
        }
        let t = Self.stamp(time)
        var id = Blake2b()
        id.update(author.bytes)
        id.update(withUnsafeBytes(of: k.littleEndian) { Array($0) })
        id.update(withUnsafeBytes(of: t.littleEndian) { Array($0) })
        id.update(op.encoded())
        let record = MembershipOpRecord(
            op: op, author: author, position: k, stamp: t, bundleID: BundleID(digest: try! Digest32(bytes: id.finalize())))
        records.append(record)
        return record
    }

    /// Skips `count` positions of `device`'s chain (data bundles).
    mutating func write(_ device: Identity, bundles count: UInt64 = 1) {
        next[device.publicKey, default: 1] += count
    }

    /// The position the next bundle of `device` will have.
    func position(of device: Identity) -> UInt64 { next[device.publicKey, default: 1] }

    /// A fresh epoch field sealed (with placeholder boxes) to `recipients`.
    mutating func epoch(_ recipients: [PublicKey]) -> EpochField {
        keyCounter &+= 1
        let boxes = Set(recipients).sorted().map { EpochField.Recipient(key: $0, sealed: [UInt8](repeating: keyCounter, count: 80)) }
        return try! EpochField(keyID: EpochKeyID(bytes: [UInt8](repeating: keyCounter, count: 16)), recipients: boxes)
    }

    @discardableResult
    mutating func genesis(_ admin: Identity, name: String = "admin", at ms: UInt64? = nil) -> MembershipOpRecord {
        let time = ms ?? (clock + 1)
        clock = max(clock, time)
        let epoch = encrypted ? self.epoch([admin.publicKey]) : nil
        let op = MembershipStatement.genesis(space: spaceKey, author: admin.publicKey, name: name, stamp: Self.stamp(time), epoch: epoch)
        return add(op, by: admin.publicKey, at: time)
    }

    /// An invite by `admin`; returns the invite key.
    @discardableResult
    mutating func invite(
        by admin: Identity, role: RoleAssignment = .writer, key: Identity, expires: UInt64 = 4_000_000_000_000, maxUses: UInt64 = 0,
        at ms: UInt64? = nil
    ) -> MembershipOpRecord {
        add(.invite(id: key.publicKey, role: role, expires: expires, maxUses: maxUses), by: admin.publicKey, at: ms)
    }

    @discardableResult
    mutating func join(_ device: Identity, with invite: Identity, name: String = "device", at ms: UInt64? = nil) -> MembershipOpRecord {
        add(MembershipStatement.join(invite: invite, spaceID: spaceID, author: device.publicKey, name: name), by: device.publicKey, at: ms)
    }

    @discardableResult
    mutating func setRole(by admin: Identity, _ target: Identity, _ role: RoleAssignment, boundary: UInt64, at ms: UInt64? = nil)
        -> MembershipOpRecord
    {
        add(.setRole(target: target.publicKey, role: role, boundary: boundary), by: admin.publicKey, at: ms)
    }

    @discardableResult
    mutating func remove(
        by admin: Identity, _ target: Identity, cutoff: UInt64, keep: [PublicKey] = [], recipients: [PublicKey] = [], at ms: UInt64? = nil
    ) -> MembershipOpRecord {
        let epoch = encrypted ? self.epoch(recipients.isEmpty ? [admin.publicKey] : recipients) : nil
        return add(.remove(target: target.publicKey, cutoff: cutoff, keep: keep.sorted(), epoch: epoch), by: admin.publicKey, at: ms)
    }

    @discardableResult
    mutating func revoke(by admin: Identity, _ invite: Identity, seen: [PublicKey] = [], at ms: UInt64? = nil) -> MembershipOpRecord {
        add(.revokeInvite(id: invite.publicKey, seen: seen.sorted()), by: admin.publicKey, at: ms)
    }

    @discardableResult
    mutating func rotate(by admin: Identity, recipients: [PublicKey], at ms: UInt64? = nil) -> MembershipOpRecord {
        add(.rotate(epoch(recipients)), by: admin.publicKey, at: ms)
    }

    @discardableResult
    mutating func successor(_ device: Identity, of predecessor: Identity, cutoff: UInt64, name: String = "restored", at ms: UInt64? = nil)
        -> MembershipOpRecord
    {
        let op = MembershipStatement.successor(
            predecessor: predecessor, spaceID: spaceID, author: device.publicKey, cutoff: cutoff, name: name)
        return add(op, by: device.publicKey, at: ms)
    }

    /// The state of every op made so far (or of `records`).
    func evaluate(_ subset: [MembershipOpRecord]? = nil) -> MembershipState {
        MembershipState.evaluate(ops: subset ?? records, spaceID: spaceID, encrypted: encrypted)
    }
}

extension MembershipState {
    func isVoid(_ record: MembershipOpRecord) -> Bool { voidOps.contains(record) }
    func role(_ device: Identity) -> RoleAssignment? { member(device.publicKey)?.role }
    func data(_ device: Identity, _ k: UInt64) -> Admission { admission(author: device.publicKey, sequence: k, isControl: false) }
}
