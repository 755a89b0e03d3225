import ConcordCore
import ConcordCrypto

/// An invitation to a space, as copy-paste-safe text: `concord1-` followed by lowercase
/// base32.
///
/// - A **writer** invite carries the space seed: its holder can certify its own device
///   as a writer, and invite others. Treat it like a password.
/// - A **reader** invite carries the content key (in an encrypted space) and a
///   reader-issuer key with its certificate: the joining device makes its own key and
///   certifies it as a reader, so no two devices share a key. Its holder can read, and
///   can certify any number of further reader keys, but cannot write.
///
/// A token ends with a 4-byte checksum, so a mistyped or truncated token is reported as
/// such instead of joining a wrong space. The layout is in `Specs/wire-format.md`,
/// section 7.4. The token text contains secrets: ``description`` is redacted, but
/// ``text`` is an ordinary `String` that is not wiped from memory.
///
/// ```swift
/// let invite = try alice.writerInvite()
/// send(invite.text)                                     // "concord1-aeaq..."
/// let parsed = try InviteToken(receivedText)            // precise errors on typos
/// let bob = try Membership.join(parsed, device: Identity())
/// ```
public struct InviteToken: Sendable, CustomStringConvertible {
    /// The text every token starts with.
    public static let prefix = "concord1-"
    /// The token format byte (1).
    public static let version: UInt8 = 1
    /// The length of the trailing checksum in bytes (4).
    static let checksumByteCount = 4

    /// What joining with the token makes the device.
    public enum Kind: UInt8, Sendable, CustomStringConvertible {
        /// A writer invite (carries the space seed).
        case writer = 1
        /// A read-only invite (carries the content key and a reader-issuer key).
        case reader = 2

        /// `writer` or `reader`.
        public var description: String { self == .writer ? "writer" : "reader" }
    }

    /// The secrets a token carries.
    enum Secret: Sendable {
        case writer(spaceSeed: SecretBytes)
        case reader(contentKey: SymmetricKey?, issuer: Identity, issuerCertificate: MembershipCertificate)
    }

    /// What the token makes its holder.
    public var kind: Kind {
        switch secret {
        case .writer: .writer
        case .reader: .reader
        }
    }
    /// The space the token admits to.
    public let spaceID: SpaceID
    /// Whether the space encrypts bundle payloads.
    public let isEncrypted: Bool
    /// The secret material.
    let secret: Secret

    init(spaceID: SpaceID, isEncrypted: Bool, secret: Secret) {
        self.spaceID = spaceID
        self.isEncrypted = isEncrypted
        self.secret = secret
    }

    /// Parses and checks a token. Surrounding whitespace is ignored; letters may be
    /// upper- or lowercase.
    ///
    /// ```swift
    /// do {
    ///     let invite = try InviteToken(pastedText)
    /// } catch let error as ConcordError where error.code == .inviteChecksumMismatch {
    ///     print(error.message)   // "... the token was mistyped or truncated ..."
    /// }
    /// ```
    /// - Parameters:
    ///   - text: The token, as ``text`` printed it.
    /// - Throws: ``ConcordError`` with code `.invalidInvite` (wrong prefix, a character
    ///   outside the alphabet, with its 1-based position, a wrong length, inconsistent
    ///   contents), `.inviteChecksumMismatch` (mistyped or truncated) or
    ///   `.unsupportedVersion` (a token from a newer Concord).
    public init(_ text: String) throws {
        self = try Self.parse(text)
    }

    /// The token text: `concord1-` and the lowercase base32 of the token bytes.
    public var text: String { Self.prefix + Base32.encode(encoded()) }

    /// A redacted description that never shows secret material, for example
    /// `InviteToken(writer, space 3b6a27bc, redacted)`.
    public var description: String { "InviteToken(\(kind), space \(spaceID.shortDescription), redacted)" }
}
