import ConcordCrypto
import ConcordProtocol

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
    /// - Throws: ``RelayProtocolError`` `.invalidVector` for a key that is not a 64-hex public key.
    public static func vector(_ json: [String: UInt64]) throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        for (hex, sequence) in json {
            guard let key = try? PublicKey(hex: hex) else {
                throw RelayProtocolError(.invalidVector, "\(hex.prefix(16)) is not a device id (64 hex characters)")
            }
            entries[key] = sequence
        }
        return VersionVector(entries)
    }
}
