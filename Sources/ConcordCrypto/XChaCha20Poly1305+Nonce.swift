extension XChaCha20Poly1305 {
    /// A 24-byte XChaCha20-Poly1305 nonce.
    ///
    /// ``init()`` draws a random nonce, which is what sealing uses by default.
    public struct Nonce: Hashable, Sendable, CustomStringConvertible {
        /// The nonce's 24 bytes.
        public let bytes: [UInt8]

        /// Creates a random nonce from the secure random source.
        public init() {
            self.bytes = SecureRandom.bytes(count: XChaCha20Poly1305.nonceByteCount)
        }

        /// Creates a nonce from 24 given bytes, for test vectors or a stored box.
        ///
        /// - Parameters:
        ///   - bytes: Exactly 24 bytes. Never reuse a nonce with the same key.
        /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` for any other length.
        public init(bytes: some Collection<UInt8>) throws {
            guard bytes.count == XChaCha20Poly1305.nonceByteCount else {
                throw ConcordCryptoError(
                    .invalidLength,
                    "An XChaCha20-Poly1305 nonce must be \(XChaCha20Poly1305.nonceByteCount) bytes, got \(bytes.count)."
                )
            }
            self.bytes = Array(bytes)
        }

        init(unchecked bytes: [UInt8]) {
            self.bytes = bytes
        }

        /// The nonce as 48 lowercase hexadecimal characters.
        public var description: String { Hex.encode(bytes) }
    }
}
