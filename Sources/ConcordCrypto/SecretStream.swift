import CSodium
import Synchronization

/// An encrypted, authenticated stream of messages in one direction (libsodium
/// `crypto_secretstream_xchacha20poly1305`).
///
/// The sender starts the stream with a 32-byte key and a 24-byte **header** (random, sent
/// in the clear before the first message); the receiver needs both. Every message is
/// encrypted with XChaCha20 and authenticated with Poly1305 under a key and nonce that
/// advance with each message, so a message that is altered, dropped, replayed, reordered
/// or moved to another stream fails to open. Each ciphertext is the plaintext plus
/// ``abytes`` (17) bytes: an encrypted tag byte and the 16-byte MAC.
///
/// A message's ``Tag`` travels encrypted with it; ``Tag/final`` marks the intended end, so
/// a receiver tells a stream that was closed on purpose from one that was cut.
///
/// ```swift
/// let key = SymmetricKey()
/// let sender = SecretStream.Sender(key: key)
/// let first = sender.push(Array("hello".utf8))
/// let receiver = try SecretStream.Receiver(key: key, header: sender.header)
/// let (message, tag) = try receiver.pull(first)     // "hello", .message
/// ```
///
/// Both types are safe to share between tasks (each call takes an internal lock), but a
/// stream is a sequence: messages are numbered in the order of the calls.
public enum SecretStream {
    /// The header length in bytes (24).
    public static let headerByteCount = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
    /// Bytes a ciphertext adds to its plaintext (17: tag byte and MAC).
    public static let abytes = Int(crypto_secretstream_xchacha20poly1305_abytes())

    /// The tag of a message.
    public enum Tag: UInt8, Sendable, Hashable {
        /// An ordinary message (0).
        case message = 0
        /// The end of a group of messages (1); Concord does not use it.
        case push = 1
        /// Rekeys after this message (2); Concord does not use it.
        case rekey = 2
        /// The last message of the stream (3).
        case final = 3
    }

    /// The sending half.
    public final class Sender: Sendable {
        /// The header the receiver needs, sent before the first message.
        public let header: [UInt8]
        private let state: Mutex<StreamState>

        /// Starts a stream with a random header (`crypto_secretstream_…_init_push`).
        /// - Parameters:
        ///   - key: The stream's key; use it for one stream only.
        public init(key: SymmetricKey) {
            Sodium.ensureInitialized()
            let state = StreamState()
            var header = [UInt8](repeating: 0, count: SecretStream.headerByteCount)
            key.secret.withBytePointer { keyPointer, _ in
                // Returns 0 always.
                _ = crypto_secretstream_xchacha20poly1305_init_push(state.pointer, &header, keyPointer)
            }
            self.header = header
            self.state = Mutex(state)
        }

        /// Starts a stream with a given header, for test vectors only: the state is the one
        /// `init_push` derives from the key and this header (`init_pull` computes exactly
        /// that state, which is how it is obtained here). Real streams use ``init(key:)``.
        /// - Parameters:
        ///   - key: The stream's key.
        ///   - header: Exactly ``SecretStream/headerByteCount`` bytes.
        /// - Throws: ``ConcordCryptoError`` `.invalidLength` for a header of another length.
        public init(key: SymmetricKey, header: [UInt8]) throws {
            let state = try StreamState(key: key, header: header)
            self.header = header
            self.state = Mutex(state)
        }

        /// Encrypts the next message (`crypto_secretstream_…_push`).
        /// - Parameters:
        ///   - message: The plaintext.
        ///   - tag: ``Tag/message``, or ``Tag/final`` for the last one.
        ///   - associatedData: Bytes authenticated with the message, not sent; empty by default.
        /// - Returns: `message.count + abytes` bytes.
        public func push(_ message: some Collection<UInt8>, tag: Tag = .message, associatedData: [UInt8] = []) -> [UInt8] {
            let outputCount = message.count + SecretStream.abytes
            return state.withLock { state in
                [UInt8](unsafeUninitializedCapacity: outputCount) { output, initialized in
                    var written: UInt64 = 0
                    message.withBytePointer { pointer, count in
                        associatedData.withBytePointer { adPointer, adCount in
                            // Returns 0 for every message below the multi-GiB limit.
                            _ = crypto_secretstream_xchacha20poly1305_push(
                                state.pointer, output.baseAddress!, &written, pointer, UInt64(count), adPointer, UInt64(adCount), tag.rawValue)
                        }
                    }
                    initialized = Int(written)
                }
            }
        }
    }

    /// The receiving half.
    public final class Receiver: Sendable {
        private let state: Mutex<StreamState>

        /// Joins a stream from its key and header (`crypto_secretstream_…_init_pull`).
        /// - Parameters:
        ///   - key: The stream's key.
        ///   - header: The header the sender sent.
        /// - Throws: ``ConcordCryptoError`` `.invalidLength` for a header of the wrong length.
        public init(key: SymmetricKey, header: some Collection<UInt8>) throws {
            state = Mutex(try StreamState(key: key, header: Array(header)))
        }

        /// Decrypts and checks the next message (`crypto_secretstream_…_pull`).
        /// - Parameters:
        ///   - ciphertext: The next message as received.
        ///   - associatedData: What the sender authenticated with it; empty by default.
        /// - Returns: The plaintext and its tag.
        /// - Throws: ``ConcordCryptoError`` `.decryptionFailed` when the message was altered,
        ///   is out of order, replayed, from another stream, or shorter than ``abytes``.
        ///   After a failure the stream is unusable: drop the connection.
        public func pull(_ ciphertext: some Collection<UInt8>, associatedData: [UInt8] = []) throws -> (message: [UInt8], tag: Tag) {
            guard ciphertext.count >= SecretStream.abytes else {
                throw ConcordCryptoError(.decryptionFailed, "A stream message of \(ciphertext.count) bytes is shorter than its \(SecretStream.abytes)-byte authentication; the stream was cut or altered. Drop the connection.")
            }
            let outputCount = ciphertext.count - SecretStream.abytes
            var tagByte: UInt8 = 0
            var status: Int32 = 0
            let message = state.withLock { state in
                [UInt8](unsafeUninitializedCapacity: max(outputCount, 1)) { output, initialized in
                    var written: UInt64 = 0
                    ciphertext.withBytePointer { pointer, count in
                        associatedData.withBytePointer { adPointer, adCount in
                            status = crypto_secretstream_xchacha20poly1305_pull(
                                state.pointer, output.baseAddress!, &written, &tagByte, pointer, UInt64(count), adPointer, UInt64(adCount))
                        }
                    }
                    initialized = status == 0 ? Int(written) : 0
                }
            }
            guard status == 0, let tag = Tag(rawValue: tagByte) else {
                throw ConcordCryptoError(.decryptionFailed, "A stream message failed authentication: it was altered, replayed, reordered or belongs to another stream. Drop the connection.")
            }
            return (message, tag)
        }
    }
}

/// Heap memory for a libsodium secretstream state, wiped when released.
///
/// `@unchecked Sendable`: only ever touched inside the `Mutex` of its owner.
final class StreamState: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>

    init() {
        pointer = .allocate(capacity: 1)
        sodium_memzero(pointer, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
    }

    /// The state `init_pull` derives from `key` and `header`.
    convenience init(key: SymmetricKey, header: [UInt8]) throws {
        guard header.count == SecretStream.headerByteCount else {
            throw ConcordCryptoError(.invalidLength, "A stream header must be \(SecretStream.headerByteCount) bytes, got \(header.count); the stream's start was cut or altered.")
        }
        Sodium.ensureInitialized()
        self.init()
        key.secret.withBytePointer { keyPointer, _ in
            // Returns 0 always.
            _ = crypto_secretstream_xchacha20poly1305_init_pull(pointer, header, keyPointer)
        }
    }

    deinit {
        sodium_memzero(pointer, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        pointer.deallocate()
    }
}
