import ConcordCore
import ConcordCrypto

/// A device's owner tag in a space (`Specs/permissions.md` §5.1): `BLAKE2b-256(
/// "concord-owner-v1" ‖ space id ‖ device id)`. Record ids bound to the device carry 60
/// of its bits, so who owns a record is a function of its id, never of arrival order.
///
/// ```swift
/// let tag = OwnerTag(device: myDevice, space: space.id)
/// let id = RecordID.owned(by: myDevice, in: space.id)
/// assert(id.isBound(to: tag))
/// ```
public struct OwnerTag: Hashable, Sendable, CustomStringConvertible {
    /// The length of a tag in bytes (32).
    public static let byteCount = 32
    /// The domain separation prefix hashed before the ids.
    static let domain = Array("concord-owner-v1".utf8)

    /// The 32 bytes.
    public let bytes: [UInt8]

    /// The tag of `device` in `space`.
    /// - Parameters:
    ///   - device: The device.
    ///   - space: The space.
    /// - Complexity: One BLAKE2b hash of 80 bytes.
    public init(device: DeviceID, space: SpaceID) {
        var hasher = Blake2b()
        hasher.update(Self.domain)
        hasher.update(space.bytes)
        hasher.update(device.bytes)
        bytes = hasher.finalize()
    }

    /// The tag as 64 lowercase hexadecimal digits.
    public var hex: String { Hex.encode(bytes) }

    /// The same as ``hex``.
    public var description: String { hex }
}

extension RecordID {
    /// A new record id bound to `device` in `space` (§5.1): a version-8 UUID carrying 60
    /// bits of the device's ``OwnerTag`` and 62 random bits. Records with such ids are the
    /// device's (and its successors') under `own` rights.
    ///
    /// ```swift
    /// let id = RecordID.owned(by: membership.deviceID, in: membership.spaceID)
    /// let op = RecordOperation(stamp: stamp, collection: "results", record: id,
    ///                          action: .set(field: "answer", value: "42"))
    /// ```
    /// - Parameters:
    ///   - device: The owning device.
    ///   - space: The space the record belongs to.
    public static func owned(by device: DeviceID, in space: SpaceID) -> RecordID {
        var generator = SystemRandomNumberGenerator()
        return owned(by: device, in: space, using: &generator)
    }

    /// A new record id bound to `device` in `space`, its random bits drawn from
    /// `generator` (use a seeded generator in tests).
    /// - Parameters:
    ///   - device: The owning device.
    ///   - space: The space the record belongs to.
    ///   - generator: The source of the 62 random bits.
    public static func owned(by device: DeviceID, in space: SpaceID, using generator: inout some RandomNumberGenerator) -> RecordID {
        let random: UInt64 = generator.next()
        return owned(
            by: OwnerTag(device: device, space: space), random: (0..<8).map { UInt8(truncatingIfNeeded: random >> UInt64(8 * $0)) })
    }

    /// The id bound to `tag` whose random part is given: byte 8's low 6 bits come from
    /// `random[0]`, bytes 9–15 are `random[1...7]` (the layout of §5.1; for vectors).
    /// - Parameters:
    ///   - tag: The owner's tag.
    ///   - random: At least 8 bytes.
    package static func owned(by tag: OwnerTag, random: [UInt8]) -> RecordID {
        let t = tag.bytes
        let bytes = Array(t[0..<6]) + [0x80 | (t[6] >> 4), t[7], 0x80 | (random[0] & 0x3F)] + Array(random[1..<8])
        // Always 16 bytes.
        return RecordID(bytes: bytes)!
    }

    /// Whether the id is bound to the device of `tag` (§5.1): bytes 0–7 (the version and
    /// 60 tag bits) and the two variant bits of byte 8 match. Random version-4 ids and
    /// app-chosen ids are bound to no one.
    /// - Parameters:
    ///   - tag: The device's owner tag in the record's space.
    public func isBound(to tag: OwnerTag) -> Bool {
        let t = tag.bytes
        return withUnsafeBytes { id in
            id[0..<6].elementsEqual(t[0..<6]) && id[6] == 0x80 | (t[6] >> 4) && id[7] == t[7] && id[8] & 0xC0 == 0x80
        }
    }

    /// Whether the id is bound to a member of a device's family (the device and its
    /// predecessors, §5.1): `own(r, A)` of the decision.
    ///
    /// ```swift
    /// let family = [tablet, oldTablet].map { OwnerTag(device: $0, space: space.id) }
    /// let own = id.isOwned(byFamily: family)
    /// ```
    /// - Parameters:
    ///   - family: The owner tags of the family's devices.
    public func isOwned(byFamily family: some Sequence<OwnerTag>) -> Bool {
        family.contains { isBound(to: $0) }
    }
}
