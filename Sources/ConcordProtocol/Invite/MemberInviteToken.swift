import ConcordCore
import ConcordCrypto

/// An invite token of format 2 (`Specs/membership.md` §4): `concord2-` and the base32 of
/// the space id, the invite key's seed, the role, the expiry, the `invite` op's stamp and,
/// in an encrypted space, the newest epoch key its issuer held, with a 4-byte checksum.
///
/// Unlike the format-1 ``InviteToken`` it carries no authority over the space: the invite
/// key only signs its holder's `join`, and the `invite` op (signed by an admin) decides the
/// role, expiry and uses. `concord invite` in a space with members prints one;
/// `Replica.join(_:at:name:)` takes it.
///
/// ```swift
/// let token = MemberInviteToken(spaceID: space, inviteKey: Identity(), role: .writer,
///                               expires: nowMs + 7 * 86_400_000, inviteStamp: stamp,
///                               currentEpoch: epoch, peerSecret: peerSecret)
/// let text = token.text                         // "concord2-..." (268 characters after the prefix)
/// let read = try MemberInviteToken(text)
/// assert(read.inviteID == token.inviteID)
/// ```
public struct MemberInviteToken: Sendable, CustomStringConvertible {
    /// The text prefix: `concord2-`.
    public static let prefix = "concord2-"
    /// The format version byte (2).
    public static let version: UInt8 = 2
    /// Bytes of a token of an unencrypted space (87).
    public static let unencryptedByteCount = 87
    /// Bytes of a token of an encrypted space (167): an epoch key id, its key and the peer
    /// secret more.
    public static let encryptedByteCount = 167
    static let checksumByteCount = 4

    /// The space the invite admits to.
    public let spaceID: SpaceID
    /// The invite key pair, recreated from the token's seed; its public key is the invite id.
    public let inviteKey: Identity
    /// The role the invite grants (informational: the `invite` op is authoritative).
    public let role: MemberRole
    /// When the invite expires, in milliseconds since the Unix epoch (informational).
    public let expires: UInt64
    /// The `invite` op's stamp (HLC raw value); a joining device observes it before stamping its `join`.
    public let inviteStamp: UInt64
    /// The newest epoch key the issuer held; `nil` exactly when the space is not encrypted.
    public let currentEpoch: EpochKey?
    /// Encrypted spaces only: the space's peer secret (`Specs/peer-protocol.md` §2.1), so
    /// the new device recognises members on the local network and can complete a peer
    /// handshake before it holds the space's first epoch key.
    public let peerSecret: SymmetricKey?

    /// A token.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - inviteKey: The invite key pair made for this invite.
    ///   - role: The role the `invite` op grants.
    ///   - expires: The `invite` op's expiry (ms since the Unix epoch).
    ///   - inviteStamp: The `invite` op's stamp.
    ///   - currentEpoch: The newest epoch key, or `nil` in an unencrypted space.
    ///   - peerSecret: The space's peer secret (encrypted spaces; ignored without
    ///     `currentEpoch`).
    public init(
        spaceID: SpaceID, inviteKey: Identity, role: MemberRole, expires: UInt64, inviteStamp: UInt64, currentEpoch: EpochKey?,
        peerSecret: SymmetricKey?
    ) {
        self.spaceID = spaceID
        self.inviteKey = inviteKey
        self.role = role
        self.expires = expires
        self.inviteStamp = inviteStamp
        self.currentEpoch = currentEpoch
        self.peerSecret = currentEpoch == nil ? nil : peerSecret
    }

    /// Reads a token's text; surrounding whitespace and either case are accepted.
    /// - Parameters:
    ///   - text: `concord2-` and the base32 body.
    /// - Throws: ``ConcordError`` `.unsupportedVersion` for a `concord1-` token ("made by an
    ///   older Concord; ask for a new invite") or a newer format, `.invalidInvite` for a
    ///   wrong prefix, a character outside the alphabet, a wrong length or inconsistent
    ///   fields, `.inviteChecksumMismatch` for a mistyped or truncated token.
    public init(_ text: String) throws(ConcordError) {
        self = try Self.parse(text)
    }

    /// The invite id: the invite key's public key, as `invite` and `join` ops name it.
    public var inviteID: PublicKey { inviteKey.publicKey }

    /// Whether the space encrypts payloads.
    public var isEncrypted: Bool { currentEpoch != nil }

    /// The token's text: `concord2-` then lowercase base32.
    public var text: String { Self.prefix + Base32.encode(encoded()) }

    /// Whether `now` (ms since the Unix epoch) is at or past the expiry.
    /// - Parameters:
    ///   - now: The current time.
    public func isExpired(at now: UInt64) -> Bool { now >= expires }

    /// Shows the space, invite id and role, never the secrets.
    public var description: String {
        "MemberInviteToken(space \(spaceID.shortDescription), invite \(inviteID.hex.prefix(8)), \(role), redacted)"
    }

    /// The token bytes, checksum included.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.encryptedByteCount)
        writer.write(Self.version)
        writer.write(contentsOf: spaceID.bytes)
        writer.write(isEncrypted ? 1 : 0)
        inviteKey.seed.withUnsafeBytes { writer.write(contentsOf: $0) }
        writer.write(role.byte)
        writer.writeFixed64(expires)
        writer.writeFixed64(inviteStamp)
        if let currentEpoch {
            writer.write(contentsOf: currentEpoch.id.bytes)
            currentEpoch.key.secret.withUnsafeBytes { writer.write(contentsOf: $0) }
            if let peerSecret {
                peerSecret.secret.withUnsafeBytes { writer.write(contentsOf: $0) }
            } else {
                writer.write(contentsOf: [UInt8](repeating: 0, count: SymmetricKey.byteCount))
            }
        }
        var bytes = writer.bytes
        bytes += InviteToken.checksum(bytes)
        return bytes
    }

    /// Decodes token bytes (checksum included), as read from the base32 body.
    /// - Parameters:
    ///   - bytes: 87 or 167 bytes.
    /// - Returns: The token.
    /// - Throws: ``ConcordError`` `.inviteChecksumMismatch`, `.unsupportedVersion`, `.invalidInvite`.
    public static func decode(_ bytes: [UInt8]) throws(ConcordError) -> MemberInviteToken {
        guard bytes.count > checksumByteCount else { throw mistyped("it is too short") }
        let content = bytes.dropLast(checksumByteCount)
        guard ConstantTime.isEqual(InviteToken.checksum(content), bytes.suffix(checksumByteCount)) else {
            throw ConcordError(
                .inviteChecksumMismatch,
                "the invite token's checksum does not match: the token was mistyped or truncated; copy it again from the person who sent it"
            )
        }
        guard bytes[0] == version else {
            throw ConcordError(
                .unsupportedVersion,
                "invite token format \(bytes[0]) is not supported by this version of Concord (it reads format \(version)); update Concord on this device"
            )
        }
        guard bytes.count == unencryptedByteCount || bytes.count == encryptedByteCount else {
            throw inconsistent("a token is \(unencryptedByteCount) or \(encryptedByteCount) bytes, this one \(bytes.count)")
        }
        var reader = ByteReader(Array(content))
        return try ConcordError.mapping("reading an invite token") {
            _ = try reader.readByte()
            let spaceID = try SpaceID(bytes: reader.readBytes(SpaceID.byteCount))
            let flags = try reader.readByte()
            guard flags <= 1 else { throw inconsistent("its flags byte is \(flags)") }
            guard (flags == 1) == (bytes.count == encryptedByteCount) else {
                throw inconsistent("its flags say \(flags == 1 ? "encrypted" : "unencrypted") but it is \(bytes.count) bytes")
            }
            let inviteKey = try Identity(seed: reader.readBytes(Identity.seedByteCount))
            let roleByte = try reader.readByte()
            guard let role = MemberRole(byte: roleByte) else { throw inconsistent("its role byte is \(roleByte)") }
            let expires = try reader.readFixed64()
            let stamp = try reader.readFixed64()
            var epoch: EpochKey?
            var peer: SymmetricKey?
            if flags == 1 {
                let claimed = try EpochKeyID(bytes: reader.readBytes(EpochKeyID.byteCount))
                let key = EpochKey(key: try SymmetricKey(bytes: reader.readBytes(SymmetricKey.byteCount)))
                guard key.id == claimed else { throw inconsistent("its epoch key does not match its key id") }
                epoch = key
                peer = try SymmetricKey(bytes: reader.readBytes(SymmetricKey.byteCount))
            }
            return MemberInviteToken(
                spaceID: spaceID, inviteKey: inviteKey, role: role, expires: expires, inviteStamp: stamp, currentEpoch: epoch,
                peerSecret: peer)
        }
    }

    static func parse(_ raw: String) throws(ConcordError) -> MemberInviteToken {
        let text = raw.trimmingWhitespace()
        let head = text.prefix(prefix.count).lowercased()
        guard head == prefix else {
            if head == InviteToken.prefix {
                throw ConcordError(
                    .unsupportedVersion, "this \"concord1-\" invite token was made by an older Concord; ask for a new invite")
            }
            if let other = foreignVersion(of: text) {
                throw ConcordError(
                    .unsupportedVersion,
                    "this is a \"\(other)\" invite token, from a newer version of Concord; update Concord on this device, then use the token again"
                )
            }
            throw ConcordError(
                .invalidInvite,
                "an invite token starts with \"\(prefix)\", this text starts with \"\(text.prefix(prefix.count))\"; copy the whole token, including its beginning"
            )
        }
        let bytes: [UInt8]
        do {
            bytes = try Base32.decode(text.dropFirst(prefix.count))
        } catch .invalidCharacter(let index, let character) {
            let shown = character.isWhitespace ? "a space or line break" : "'\(character)'"
            throw ConcordError(
                .invalidInvite,
                "the invite token has \(shown) at position \(prefix.count + index + 1), where only the letters a-z and the digits 2-7 can appear; the token was mistyped (0, 1, 8 and 9 never occur), copy it again"
            )
        } catch {
            throw mistyped("its length does not match any token")
        }
        return try decode(bytes)
    }

    /// `concord3` for `concord3-...`: a token prefix of a format other than 1 and 2.
    private static func foreignVersion(of text: String) -> String? {
        let lower = text.lowercased()
        guard lower.hasPrefix("concord"), let dash = lower.firstIndex(of: "-") else { return nil }
        let digits = lower[lower.index(lower.startIndex, offsetBy: 7)..<dash]
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), digits != "1", digits != "2" else { return nil }
        return String(lower[..<dash])
    }

    private static func mistyped(_ why: String) -> ConcordError {
        ConcordError(
            .invalidInvite,
            "the invite token cannot be read (\(why)): the token was mistyped or truncated; copy it again from the person who sent it")
    }

    private static func inconsistent(_ why: String) -> ConcordError {
        ConcordError(.invalidInvite, "the invite token is not valid (\(why)); ask a member of the space for a new invite")
    }
}
