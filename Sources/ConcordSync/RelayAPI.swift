import Concord
import ConcordCrypto
import Foundation

/// The shared vocabulary of the relay protocol (`Specs/relay-api.md`): paths, the
/// authentication message, JSON bodies, and the bundle-stream framing. Both the relay
/// (`ConcordRelay`) and the client (``SyncEngine``) use these, so the two cannot drift.
///
/// ```swift
/// let message = RelayAPI.authMessage(spaceID: space, challenge: challenge)
/// let signature = device.sign(message)
/// ```
public enum RelayAPI {
    /// The protocol version in every path: `/v1/...`.
    public static let version = "v1"
    /// Content type of a bundle stream (§2).
    public static let bundleStreamContentType = "application/x-concord-bundle-stream"
    /// Domain separation prefix of the auth message (§1).
    public static let authContext: [UInt8] = Array("concord-relay-auth-v1".utf8)
    /// Bytes of a challenge.
    public static let challengeByteCount = 32

    /// `/v1/spaces/<hex>/<endpoint>`.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - endpoint: `challenge`, `sessions`, `vector`, `bundles`, `pull` or `feed`.
    /// - Returns: The path, starting with `/`.
    public static func path(_ spaceID: SpaceID, _ endpoint: String) -> String {
        "/\(version)/spaces/\(spaceID.hex)/\(endpoint)"
    }

    /// The bytes a device signs to open a session: `"concord-relay-auth-v1" | 00 | space id | challenge`.
    /// - Parameters:
    ///   - spaceID: The space the session is for.
    ///   - challenge: The relay's challenge (32 bytes).
    /// - Returns: The message to sign with the device key.
    public static func authMessage(spaceID: SpaceID, challenge: [UInt8]) -> [UInt8] {
        authContext + [0] + spaceID.bytes + challenge
    }

    /// `POST …/challenge` response.
    public struct ChallengeResponse: Codable, Sendable, Hashable {
        /// Base64 of 32 random bytes.
        public var challenge: String
        /// Seconds until the challenge expires.
        public var expiresIn: Int
        /// Creates a response.
        public init(challenge: String, expiresIn: Int) {
            self.challenge = challenge
            self.expiresIn = expiresIn
        }
    }

    /// `POST …/sessions` request.
    public struct SessionRequest: Codable, Sendable, Hashable {
        /// Base64 of the device's `CertificateChain` bytes.
        public var certificates: String
        /// The challenge as received (base64).
        public var challenge: String
        /// Base64 of the Ed25519 signature over ``RelayAPI/authMessage(spaceID:challenge:)``.
        public var signature: String
        /// Creates a request.
        public init(certificates: String, challenge: String, signature: String) {
            self.certificates = certificates
            self.challenge = challenge
            self.signature = signature
        }
    }

    /// `POST …/sessions` response.
    public struct SessionResponse: Codable, Sendable, Hashable {
        /// The bearer token for later requests.
        public var token: String
        /// `"writer"` or `"reader"`.
        public var role: String
        /// Seconds until the session expires.
        public var expiresIn: Int
        /// Creates a response.
        public init(token: String, role: String, expiresIn: Int) {
            self.token = token
            self.role = role
            self.expiresIn = expiresIn
        }
    }

    /// `POST …/bundles` response.
    public struct PushResponse: Codable, Sendable, Hashable {
        /// Bundles newly stored.
        public var stored: Int
        /// Bundles the relay already held.
        public var duplicates: Int
        /// Creates a response.
        public init(stored: Int, duplicates: Int) {
            self.stored = stored
            self.duplicates = duplicates
        }
    }

    /// `POST …/pull` request.
    public struct PullRequest: Codable, Sendable, Hashable {
        /// Author (hex) → highest sequence the client holds.
        public var since: [String: UInt64]
        /// Creates a request.
        public init(since: [String: UInt64]) { self.since = since }
    }

    /// Where a `409 missing-predecessor` says to resume.
    public struct Expected: Codable, Sendable, Hashable {
        /// The author (hex).
        public var author: String
        /// The sequence the relay needs next.
        public var sequence: UInt64
        /// Creates a value.
        public init(author: String, sequence: UInt64) {
            self.author = author
            self.sequence = sequence
        }
    }

    /// The body of every refusal (§6).
    public struct ErrorBody: Codable, Sendable, Hashable {
        /// A stable code, for example `fork` or `read-only`.
        public var error: String
        /// What happened and what to do.
        public var message: String
        /// For `missing-predecessor`: where to resume.
        public var expected: Expected?
        /// Creates a body.
        public init(error: String, message: String, expected: Expected? = nil) {
            self.error = error
            self.message = message
            self.expected = expected
        }
    }

    /// A version vector as JSON: author hex → sequence.
    /// - Parameters:
    ///   - vector: The vector.
    /// - Returns: The JSON dictionary form.
    public static func json(_ vector: VersionVector) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: vector.entries.map { ($0.key.hex, $0.value) })
    }

    /// Parses the JSON form of a version vector.
    /// - Parameters:
    ///   - json: Author hex → sequence.
    /// - Returns: The vector.
    /// - Throws: ``ConcordSyncError`` `.invalidVector` for a key that is not a 64-hex public key.
    public static func vector(_ json: [String: UInt64]) throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        for (hex, sequence) in json {
            guard let key = try? PublicKey(hex: hex) else {
                throw ConcordSyncError(.invalidVector, "\(hex.prefix(16)) is not a device id (64 hex characters)")
            }
            entries[key] = sequence
        }
        return VersionVector(entries)
    }
}

/// The bundle-stream framing of `Specs/relay-api.md` §2: `(u32 BE length | bytes)* | 00000000`.
///
/// ```swift
/// var out = BundleStreamFraming.frame(bundle.bytes)   // one frame
/// out += BundleStreamFraming.endMarker
///
/// var decoder = BundleStreamFraming.Decoder(maxFrameBytes: 64 << 20)
/// decoder.append(chunk)
/// while let bundle = try decoder.next() { … }
/// if decoder.isFinished { … }                          // end marker seen
/// ```
public enum BundleStreamFraming {
    /// The end-of-stream marker: a zero length.
    public static let endMarker: [UInt8] = [0, 0, 0, 0]

    /// One frame: the big-endian length, then the bytes.
    /// - Parameters:
    ///   - bytes: A bundle (not empty).
    /// - Returns: The framed bytes.
    public static func frame(_ bytes: [UInt8]) -> [UInt8] {
        let n = UInt32(bytes.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + bytes
    }

    /// Frames several bundles and the end marker.
    /// - Parameters:
    ///   - bundles: The bundles, in order.
    /// - Returns: A complete stream.
    public static func encode(_ bundles: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bundles.reduce(4) { $0 + $1.count + 4 })
        for bundle in bundles { out += frame(bundle) }
        return out + endMarker
    }

    /// Bytes of frames a live-feed message carries at most, unless it holds a single larger
    /// bundle (`Specs/relay-api.md` §5). Clients accept messages of
    /// `max(feedBatchBytes, maxBundleBytes + 4)` bytes.
    public static let feedBatchBytes = 1 << 20

    /// The bundles of one live-feed message (§5): one or more whole frames, no end marker.
    ///
    /// ```swift
    /// for bundle in try BundleStreamFraming.frames(inMessage: Array(buffer.readableBytesView)) { … }
    /// ```
    /// - Parameters:
    ///   - message: The binary message's bytes.
    ///   - maxFrameBytes: Frames longer than this are refused.
    /// - Returns: The bundles, in order.
    /// - Throws: ``ConcordSyncError`` `.malformedFile` for an empty message, a zero or
    ///   oversized length, or a frame cut short.
    public static func frames(inMessage message: [UInt8], maxFrameBytes: Int = BundleLimits.defaultMaxBundleBytes) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var start = 0
        while start < message.count {
            guard message.count - start >= 4 else {
                throw ConcordSyncError(.malformedFile, "a live-feed message ends inside a frame length; the relay or a proxy is broken")
            }
            let length = Int(message[start]) << 24 | Int(message[start + 1]) << 16 | Int(message[start + 2]) << 8 | Int(message[start + 3])
            guard length > 0, length <= maxFrameBytes else {
                throw ConcordSyncError(.malformedFile, "a live-feed frame of \(length) bytes is outside 1...\(maxFrameBytes); the relay or a proxy is broken")
            }
            guard message.count - start - 4 >= length else {
                throw ConcordSyncError(.malformedFile, "a live-feed message ends inside a \(length)-byte frame; the relay or a proxy is broken")
            }
            frames.append(Array(message[(start + 4)..<(start + 4 + length)]))
            start += 4 + length
        }
        guard !frames.isEmpty else {
            throw ConcordSyncError(.malformedFile, "an empty live-feed message; the relay or a proxy is broken")
        }
        return frames
    }

    /// An incremental decoder: feed chunks as they arrive, take whole frames out.
    public struct Decoder: Sendable {
        /// The largest frame accepted.
        public let maxFrameBytes: Int
        private var buffer: [UInt8] = []
        private var start = 0
        /// Whether the end marker was read.
        public private(set) var isFinished = false

        /// Creates a decoder.
        /// - Parameters:
        ///   - maxFrameBytes: Frames longer than this are refused (the bundle size limit).
        public init(maxFrameBytes: Int = BundleLimits.defaultMaxBundleBytes) {
            self.maxFrameBytes = maxFrameBytes
        }

        /// Bytes received but not yet returned as frames.
        public var bufferedByteCount: Int { buffer.count - start }

        /// Adds received bytes.
        /// - Parameters:
        ///   - bytes: The next chunk.
        public mutating func append(_ bytes: some Sequence<UInt8>) {
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: bytes)
        }

        /// The next whole frame, or nil if more bytes are needed or the stream ended.
        /// - Returns: A bundle's bytes.
        /// - Throws: ``ConcordSyncError`` `.malformedFile` for an oversized frame or bytes after the end marker.
        public mutating func next() throws -> [UInt8]? {
            if isFinished {
                guard bufferedByteCount == 0 else {
                    throw ConcordSyncError(.malformedFile, "bytes after the end of a bundle stream; the relay or proxy is broken")
                }
                return nil
            }
            guard bufferedByteCount >= 4 else { return nil }
            let length = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
            if length == 0 {
                start += 4
                isFinished = true
                return try next()
            }
            guard length <= maxFrameBytes else {
                throw ConcordSyncError(.malformedFile, "a bundle stream frame of \(length) bytes is above the \(maxFrameBytes)-byte limit")
            }
            guard bufferedByteCount >= 4 + length else { return nil }
            let frame = Array(buffer[(start + 4)..<(start + 4 + length)])
            start += 4 + length
            return frame
        }
    }
}
