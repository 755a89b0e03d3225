extension XChaCha20Poly1305 {
    /// The result of ``XChaCha20Poly1305/seal(_:using:nonce:authenticating:)``: a nonce
    /// and the ciphertext followed by its 16-byte authentication tag.
    ///
    /// Store or transmit ``combined`` (nonce || ciphertext || tag) and parse it back with
    /// ``init(combined:)``.
    ///
    /// ```swift
    /// let bytes = XChaCha20Poly1305.seal(payload, using: key).combined
    /// let box = try XChaCha20Poly1305.SealedBox(combined: bytes)
    /// ```
    public struct SealedBox: Hashable, Sendable {
        /// The nonce the box was sealed with.
        public let nonce: Nonce

        /// The encrypted bytes followed by the 16-byte tag.
        public let ciphertext: [UInt8]

        /// Creates a box from a nonce and a ciphertext that includes its tag.
        ///
        /// - Parameters:
        ///   - nonce: The nonce used when sealing.
        ///   - ciphertext: The ciphertext with the 16-byte tag at the end.
        /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` when the ciphertext is
        ///   shorter than a tag.
        public init(nonce: Nonce, ciphertext: some Collection<UInt8>) throws {
            guard ciphertext.count >= XChaCha20Poly1305.tagByteCount else {
                throw ConcordCryptoError(
                    .invalidLength,
                    "A sealed box needs at least \(XChaCha20Poly1305.tagByteCount) bytes of ciphertext and tag, got \(ciphertext.count); the data is truncated."
                )
            }
            self.nonce = nonce
            self.ciphertext = Array(ciphertext)
        }

        /// Parses the ``combined`` form: 24-byte nonce, then ciphertext and tag.
        ///
        /// - Parameters:
        ///   - combined: At least 40 bytes (24 nonce + 16 tag).
        /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` when `combined` is
        ///   shorter than a nonce and a tag.
        public init(combined: some Collection<UInt8>) throws {
            let bytes = Array(combined)
            let minimum = XChaCha20Poly1305.nonceByteCount + XChaCha20Poly1305.tagByteCount
            guard bytes.count >= minimum else {
                throw ConcordCryptoError(
                    .invalidLength,
                    "A sealed box needs at least \(minimum) bytes (nonce and tag), got \(bytes.count); the data is truncated."
                )
            }
            let nonce = Nonce(unchecked: Array(bytes[..<XChaCha20Poly1305.nonceByteCount]))
            try self.init(nonce: nonce, ciphertext: bytes[XChaCha20Poly1305.nonceByteCount...])
        }

        /// Wraps libsodium output already known to include a tag.
        init(nonce: Nonce, ciphertext: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
        }

        /// The nonce followed by the ciphertext and tag, ready to store or send.
        public var combined: [UInt8] { nonce.bytes + ciphertext }
    }
}
