/// A secret key stored in a file readable only by its owner.
///
/// ## File format (version 1)
///
/// A small binary file, all integers big-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic: ASCII `CONCORDK` |
/// | 8 | 1 | format version: `1` |
/// | 9 | 1 | kind: `1` Ed25519 seed, `2` symmetric key |
/// | 10 | 2 | secret length `n` (32 for both kinds in version 1) |
/// | 12 | n | the secret bytes |
/// | 12 + n | 16 | checksum: BLAKE2b-128 (unkeyed) of bytes `0 ..< 12 + n` |
///
/// A version-1 file holding a 32-byte secret is therefore exactly 60 bytes. The checksum
/// detects truncation and corruption (it is not a MAC: anyone who can write the file
/// can replace the key, which is why the permission check matters).
///
/// ## Permissions
///
/// ``write(to:)`` creates a temporary file in the destination directory with mode
/// `0600` from the start, writes and `fsync`s it, then renames it over the destination,
/// so readers see either the old file or the complete new one, never a partial file,
/// and the secret is never in a file others can read. ``read(from:)`` refuses any file
/// whose mode grants group or others any access (`mode & 0o077 != 0`) and says which
/// `chmod 600` command fixes it.
///
/// ```swift
/// let identity = Identity()
/// try KeyFile(identity: identity).write(to: "/home/me/.concord/device.key")
///
/// let file = try KeyFile.read(from: "/home/me/.concord/device.key")
/// let restored = try Identity(seed: file.secret)
/// ```
public struct KeyFile: Sendable {
    /// What a key file holds; determines the expected secret length.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let rawValue: UInt8

        private init(_ rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// A 32-byte Ed25519 seed, as returned by ``Identity/seed``.
        public static let ed25519Seed = Kind(1)
        /// A 32-byte ``SymmetricKey``.
        public static let symmetricKey = Kind(2)

        static let all: [Kind] = [.ed25519Seed, .symmetricKey]

        init?(rawValue: UInt8) {
            guard let kind = Self.all.first(where: { $0.rawValue == rawValue }) else { return nil }
            self = kind
        }

        /// The secret length in bytes this kind requires.
        public var secretByteCount: Int { 32 }

        /// A readable name, for example `Ed25519 seed`.
        public var description: String {
            switch rawValue {
            case 1: "Ed25519 seed"
            case 2: "symmetric key"
            default: "kind \(rawValue)"
            }
        }
    }

    static let magic: [UInt8] = Array("CONCORDK".utf8)
    static let formatVersion: UInt8 = 1
    static let headerByteCount = 12
    static let checksumByteCount = 16
    /// Files larger than this are rejected without being read further.
    static let maximumFileSize = headerByteCount + 64 + checksumByteCount

    /// What the file holds.
    public let kind: Kind

    /// The secret bytes.
    public let secret: SecretBytes

    /// Creates a key file's contents.
    ///
    /// - Parameters:
    ///   - kind: What the secret is.
    ///   - secret: The secret; its length must match `kind.secretByteCount`.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` when the secret has
    ///   the wrong length for `kind`.
    public init(kind: Kind, secret: SecretBytes) throws {
        guard secret.count == kind.secretByteCount else {
            throw ConcordCryptoError(
                .invalidKeyLength,
                "A key file holding a key of kind \"\(kind)\" needs a \(kind.secretByteCount)-byte secret, got \(secret.count) bytes."
            )
        }
        self.kind = kind
        self.secret = secret
    }

    /// Creates a key file holding an identity's seed.
    ///
    /// - Parameters:
    ///   - identity: The identity to store.
    public init(identity: Identity) {
        self.kind = .ed25519Seed
        self.secret = identity.seed
    }

    /// Creates a key file holding a symmetric key.
    ///
    /// - Parameters:
    ///   - key: The key to store.
    public init(symmetricKey key: SymmetricKey) {
        self.kind = .symmetricKey
        self.secret = key.secret
    }

    /// The complete file contents in the version-1 format, held in wiped memory.
    func encoded() -> SecretBytes {
        let secretCount = secret.count
        let total = Self.headerByteCount + secretCount + Self.checksumByteCount
        return SecretBytes(uninitializedCount: total) { buffer in
            buffer.baseAddress!.update(from: Self.magic, count: Self.magic.count)
            buffer[8] = Self.formatVersion
            buffer[9] = kind.rawValue
            buffer[10] = UInt8(truncatingIfNeeded: secretCount >> 8)
            buffer[11] = UInt8(truncatingIfNeeded: secretCount)
            secret.withBytePointer { pointer, count in
                (buffer.baseAddress! + Self.headerByteCount).update(from: pointer, count: count)
            }
            let checked = UnsafeBufferPointer(rebasing: buffer[..<(Self.headerByteCount + secretCount)])
            let checksum = try! Blake2b.hash(checked, outputLength: Self.checksumByteCount)
            (buffer.baseAddress! + Self.headerByteCount + secretCount).update(from: checksum, count: checksum.count)
        }
    }

    /// Parses file contents, naming `path` in any error.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, path: String) throws -> KeyFile {
        func invalid(_ problem: String) -> ConcordCryptoError {
            ConcordCryptoError(.invalidKeyFile, "\(path) is not a valid Concord key file: \(problem).")
        }
        guard bytes.count >= Self.headerByteCount, Array(bytes[..<8]) == Self.magic else {
            throw invalid(
                bytes.count < Self.headerByteCount
                    ? "it is only \(bytes.count) bytes long; restore it from a backup"
                    : "it does not start with the CONCORDK marker; check that the path points to a key file")
        }
        guard bytes[8] == Self.formatVersion else {
            throw invalid("it uses format version \(bytes[8]), this version of Concord reads version \(Self.formatVersion); upgrade Concord")
        }
        guard let kind = Kind(rawValue: bytes[9]) else {
            throw invalid("it holds an unknown kind of key (\(bytes[9])); upgrade Concord")
        }
        let secretCount = Int(bytes[10]) << 8 | Int(bytes[11])
        let expectedTotal = Self.headerByteCount + secretCount + Self.checksumByteCount
        guard secretCount == kind.secretByteCount else {
            throw invalid("its \(kind) is \(secretCount) bytes instead of \(kind.secretByteCount); restore it from a backup")
        }
        guard bytes.count == expectedTotal else {
            throw invalid("it is \(bytes.count) bytes long instead of \(expectedTotal) (truncated or extended); restore it from a backup")
        }
        let checkedEnd = Self.headerByteCount + secretCount
        let checksum = try Blake2b.hash(UnsafeBufferPointer(rebasing: bytes[..<checkedEnd]), outputLength: Self.checksumByteCount)
        guard ConstantTime.isEqual(checksum, UnsafeBufferPointer(rebasing: bytes[checkedEnd...])) else {
            throw invalid("its checksum does not match, so the file is corrupted; restore it from a backup")
        }
        let secret = SecretBytes(uninitializedCount: secretCount) { buffer in
            buffer.baseAddress!.update(from: bytes.baseAddress! + Self.headerByteCount, count: secretCount)
        }
        return try KeyFile(kind: kind, secret: secret)
    }
}
