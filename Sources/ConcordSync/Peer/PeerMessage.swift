import Concord
import ConcordCrypto

/// One message of the peer sync protocol after the handshake (`Specs/peer-protocol.md`
/// §4): the plaintext of one secret-stream message, a type byte and its body.
///
/// ```swift
/// let bytes = PeerMessage.vector(try await replica.versionVector()).encoded
/// let back = try PeerMessage(decoding: bytes, maxBundleBytes: 64 << 20)
/// ```
public enum PeerMessage: Sendable, Hashable {
    /// `01`: what the sender holds (its version vector). The first message each side
    /// sends; later ones acknowledge what it imported.
    case vector(VersionVector)
    /// `02`: change bundles, each author's in sequence order.
    case bundles([[UInt8]])
    /// `03`: the sender has sent every bundle it held above the receiver's first vector.
    case synced
    /// `04`: a keep-alive; answered with ``pong(_:)`` echoing the 8 bytes.
    case ping(UInt64)
    /// `05`: the answer to a ping.
    case pong(UInt64)
    /// `06`: the sender closes the connection, with a reason (the stream's last message).
    case close(CloseCode, String)

    /// Why a connection is closed.
    public enum CloseCode: UInt8, Sendable, Hashable {
        /// Done (a one-shot sync finished) or going away (the device stops).
        case normal = 0
        /// The sender refuses the receiver (not a member).
        case refused = 1
        /// The receiver broke the protocol.
        case protocolError = 2
        /// Another connection between the same two devices is kept instead.
        case duplicate = 3
    }

    /// Message type bytes.
    enum Kind: UInt8 {
        case vector = 1, bundles, synced, ping, pong, close
    }

    /// The most authors a vector message may name.
    public static let maxVectorAuthors = 1 << 16

    /// The message's bytes.
    public var encoded: [UInt8] {
        var writer = ByteWriter()
        switch self {
        case .vector(let vector):
            writer.write(Kind.vector.rawValue)
            writer.writeVarint(UInt64(vector.entries.count))
            for (author, sequence) in vector.entries.sorted(by: { $0.key < $1.key }) {
                writer.write(contentsOf: author.bytes)
                writer.writeVarint(sequence)
            }
        case .bundles(let bundles):
            writer.write(Kind.bundles.rawValue)
            writer.writeVarint(UInt64(bundles.count))
            for bundle in bundles { writer.writeLengthPrefixed(bundle) }
        case .synced:
            writer.write(Kind.synced.rawValue)
        case .ping(let value):
            writer.write(Kind.ping.rawValue)
            writer.writeFixed64(value)
        case .pong(let value):
            writer.write(Kind.pong.rawValue)
            writer.writeFixed64(value)
        case let .close(code, reason):
            writer.write(Kind.close.rawValue)
            writer.write(code.rawValue)
            writer.write(contentsOf: Array(reason.utf8.prefix(1024)))
        }
        return writer.bytes
    }

    /// Encodes a bundles message directly from bundle byte arrays (no intermediate enum).
    static func encodeBundles(_ bundles: [[UInt8]], byteCount: Int) -> [UInt8] {
        var writer = ByteWriter(capacity: byteCount + 16 + bundles.count * 5)
        writer.write(Kind.bundles.rawValue)
        writer.writeVarint(UInt64(bundles.count))
        for bundle in bundles { writer.writeLengthPrefixed(bundle) }
        return writer.bytes
    }

    /// Decodes a message; every rule of §4 is checked, nothing may follow the body.
    /// - Parameters:
    ///   - bytes: One decrypted stream message.
    ///   - maxBundleBytes: The largest bundle accepted.
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` naming what is wrong.
    public init(decoding bytes: [UInt8], maxBundleBytes: Int) throws {
        var reader = ByteReader(bytes)
        do {
            let type = try reader.readByte()
            switch Kind(rawValue: type) {
            case .vector:
                let count = try reader.readVarint()
                guard count <= UInt64(Self.maxVectorAuthors), count <= UInt64(reader.remaining / 33) else {
                    throw reader.error("a vector of \(count) authors does not fit the message or the limit of \(Self.maxVectorAuthors)")
                }
                var entries: [PublicKey: UInt64] = [:]
                var previous: ArraySlice<UInt8>?
                for _ in 0..<count {
                    let raw = try reader.readBytes(32)
                    if let previous, !previous.lexicographicallyPrecedes(raw) { throw reader.error("vector authors are not strictly ascending") }
                    previous = raw
                    let sequence = try reader.readVarint()
                    guard sequence >= 1 else { throw reader.error("a vector entry of sequence 0") }
                    entries[try PublicKey(bytes: raw)] = sequence
                }
                self = .vector(VersionVector(entries))
            case .bundles:
                let count = try reader.readVarint()
                guard count >= 1, count <= UInt64(reader.remaining / 2) else { throw reader.error("a bundles message of \(count) bundles") }
                var bundles: [[UInt8]] = []
                bundles.reserveCapacity(Int(count))
                for _ in 0..<count {
                    let length = try reader.readVarint()
                    guard length >= 1, length <= UInt64(maxBundleBytes) else { throw reader.error("a bundle of \(length) bytes (limit \(maxBundleBytes))") }
                    bundles.append(Array(try reader.readBytes(Int(length))))
                }
                self = .bundles(bundles)
            case .synced:
                self = .synced
            case .ping:
                self = .ping(try reader.readFixed64())
            case .pong:
                self = .pong(try reader.readFixed64())
            case .close:
                let code = try reader.readByte()
                let reason = String(decoding: try reader.readBytes(reader.remaining), as: UTF8.self)
                self = .close(CloseCode(rawValue: code) ?? .protocolError, reason)
            case nil:
                throw reader.error("unknown message type \(type)")
            }
            guard reader.isAtEnd else { throw reader.error("\(reader.remaining) bytes after the message") }
        } catch let error as ConcordSyncError {
            throw error
        } catch {
            throw ConcordSyncError(.peerProtocol, "the peer sent a malformed message (\(error)); the connection was dropped and nothing of it applied")
        }
    }
}
