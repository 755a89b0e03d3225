/// The single error type thrown by ConcordCrypto.
///
/// Match on ``code`` to handle a specific failure; show ``description`` to a person:
/// it names what went wrong and what to do about it. libsodium return codes never
/// appear in messages.
///
/// ```swift
/// do {
///     let plaintext = try XChaCha20Poly1305.open(box, using: key)
/// } catch let error as ConcordCryptoError where error.code == .decryptionFailed {
///     print("The data was altered or the key is wrong: \(error)")
/// }
/// ```
public struct ConcordCryptoError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure occurred.
    ///
    /// A struct rather than an enum, so new codes can be added without breaking
    /// callers that `switch` over them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case invalidSignature
            case decryptionFailed
            case invalidKeyLength
            case invalidLength
            case invalidEncoding
            case invalidContext
            case keyFileNotFound
            case insecureKeyFilePermissions
            case invalidKeyFile
            case keyFileIOFailed
            case keyExchangeFailed
            case invalidPublicKey
        }

        private let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// A signature did not verify against the public key and message.
        public static let invalidSignature = Code(.invalidSignature)
        /// Authenticated decryption failed: wrong key, wrong associated data, or altered ciphertext.
        public static let decryptionFailed = Code(.decryptionFailed)
        /// A key, seed or secret had the wrong number of bytes.
        public static let invalidKeyLength = Code(.invalidKeyLength)
        /// A non-secret value (signature, nonce, digest, output length) had the wrong size.
        public static let invalidLength = Code(.invalidLength)
        /// Text could not be decoded (for example malformed hexadecimal).
        public static let invalidEncoding = Code(.invalidEncoding)
        /// A key-derivation context was not exactly 8 bytes.
        public static let invalidContext = Code(.invalidContext)
        /// No key file exists at the given path.
        public static let keyFileNotFound = Code(.keyFileNotFound)
        /// A key file is readable or writable by group or others.
        public static let insecureKeyFilePermissions = Code(.insecureKeyFilePermissions)
        /// A key file exists but is not a valid Concord key file (wrong magic, version, size or checksum).
        public static let invalidKeyFile = Code(.invalidKeyFile)
        /// The operating system refused a key-file operation (permission denied, disk full, ...).
        public static let keyFileIOFailed = Code(.keyFileIOFailed)
        /// A key exchange gave no shared secret: the other party sent a low-order public key.
        public static let keyExchangeFailed = Code(.keyExchangeFailed)
        /// A 32-byte public key is not a usable Ed25519 curve point (it has no X25519 form),
        /// so nothing can be sealed to it.
        public static let invalidPublicKey = Code(.invalidPublicKey)

        /// The code's name, for example `decryptionFailed`.
        public var description: String { kind.rawValue }
    }

    /// What kind of failure occurred; compare against the static members of ``Code``.
    public let code: Code

    /// A sentence explaining the failure and what to do about it.
    public let message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What kind of failure occurred.
    ///   - message: What went wrong, and what the user should do about it.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code followed by the message, for example
    /// `insecureKeyFilePermissions: Key file /x is readable ... Run: chmod 600 /x`.
    public var description: String { "\(code): \(message)" }
}
