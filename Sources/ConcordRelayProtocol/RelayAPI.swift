import ConcordCrypto
import ConcordProtocol
import Foundation

/// The shared vocabulary of the relay protocol (`Specs/relay-api.md`): paths, the
/// authentication message, JSON bodies, and the bundle-stream framing. Both the relay
/// (`ConcordRelay`) and the client (``SyncEngine``) use these, so the two cannot drift.
///
/// ```swift
/// let origin = RelayAPI.origin(of: URL(string: "https://relay.example.org")!)!   // "https://relay.example.org:443"
/// let message = RelayAPI.authMessage(relay: origin, spaceID: space, challenge: challenge)
/// let signature = device.sign(message)
/// ```
public enum RelayAPI {
    /// The protocol version in every path: `/v1/...`.
    public static let version = "v1"
    /// Content type of a bundle stream (§2).
    public static let bundleStreamContentType = "application/x-concord-bundle-stream"
    /// Domain separation prefix of the auth message (§1).
    public static let authContext: [UInt8] = Array("concord-relay-auth-v2".utf8)
    /// The longest origin an auth message may name, in bytes.
    public static let maxOriginBytes = 255
    /// Bytes of a challenge.
    public static let challengeByteCount = 32

    /// The content type of a snapshot manifest and of a chunk (§3.1).
    public static let snapshotContentType = "application/x-concord-snapshot"
    /// The header of `GET …/snapshot` that says how many chunks the manifest names.
    public static let snapshotChunksHeader = "Concord-Snapshot-Chunks"
    /// The header of a `409 snapshot-required` answer to a pull: the id (64 lowercase hex
    /// characters) of the snapshot to load first (§4, `Specs/snapshots.md` §5.2).
    public static let snapshotRequiredHeader = "Concord-Snapshot"

    /// The `ETag` of a snapshot: its id in lowercase hex, quoted.
    /// - Parameters:
    ///   - id: The snapshot id.
    /// - Returns: `"<64 hex>"` with the quotes.
    public static func eTag(_ id: Digest32) -> String { "\"\(id.hex)\"" }

    /// The snapshot id of an `ETag` of ``eTag(_:)`` (quotes and a weak `W/` prefix allowed).
    /// - Parameters:
    ///   - text: The header's value.
    /// - Returns: The id, or nil when the value is not one.
    public static func snapshotID(eTag text: String) -> Digest32? {
        var text = Substring(text.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = text.dropFirst().dropLast() }
        guard text.count == 64 else { return nil }
        return try? Digest32(hex: String(text))
    }

    /// `/v1/spaces/<hex>/snapshot/<id>/chunks/<index>`: one chunk of a snapshot (§3.1).
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - id: The snapshot id.
    ///   - index: The chunk's index, from 0.
    /// - Returns: The path, starting with `/`.
    public static func snapshotChunkPath(_ spaceID: SpaceID, _ id: Digest32, index: Int) -> String {
        path(spaceID, "snapshot/\(id.hex)/chunks/\(index)")
    }

    /// `/v1/spaces/<hex>/snapshot/<id>/control`: the control bundles at or below the
    /// snapshot's vector (§3.1).
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - id: The snapshot id.
    /// - Returns: The path, starting with `/`.
    public static func snapshotControlPath(_ spaceID: SpaceID, _ id: Digest32) -> String {
        path(spaceID, "snapshot/\(id.hex)/control")
    }

    /// `/v1/spaces/<hex>/<endpoint>`.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - endpoint: `challenge`, `sessions`, `vector`, `bundles`, `pull`, `feed` or `snapshot`.
    /// - Returns: The path, starting with `/`.
    public static func path(_ spaceID: SpaceID, _ endpoint: String) -> String {
        "/\(version)/spaces/\(spaceID.hex)/\(endpoint)"
    }

    /// The bytes a device signs to open a session (§1):
    /// `"concord-relay-auth-v2" | 00 | origin length (u16 BE) | origin | space id | challenge`.
    ///
    /// The origin names the relay the signature is meant for, so a relay that forwards
    /// another relay's challenge cannot use the answer there.
    /// - Parameters:
    ///   - relay: The relay's origin as ``origin(of:)`` writes it.
    ///   - spaceID: The space the session is for.
    ///   - challenge: The relay's challenge (32 bytes).
    /// - Returns: The message to sign with the device key.
    public static func authMessage(relay: String, spaceID: SpaceID, challenge: [UInt8]) -> [UInt8] {
        let origin = Array(relay.utf8)
        return authContext + [0, UInt8(truncatingIfNeeded: origin.count >> 8), UInt8(truncatingIfNeeded: origin.count)] + origin + spaceID.bytes + challenge
    }

    /// The origin of a relay URL as the auth message names it (§1):
    /// `scheme://host:port`, scheme and host in lowercase, IPv6 hosts in brackets, the port
    /// always written (80 for `http`, 443 for `https` when the URL has none); no path.
    ///
    /// ```swift
    /// RelayAPI.origin(of: URL(string: "HTTP://Relay.Example.org/base/")!)   // "http://relay.example.org:80"
    /// ```
    /// - Parameters:
    ///   - url: The relay's base URL.
    /// - Returns: The origin, or nil when the URL is not `http(s)://host…`.
    public static func origin(of url: URL) -> String? {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            var host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host.contains(":") { host = "[\(host)]" }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let origin = "\(scheme)://\(host):\(port)"
        return origin.utf8.count <= maxOriginBytes ? origin : nil
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
        /// The relay origin the signature names (``RelayAPI/origin(of:)``).
        public var relay: String
        /// Base64 of the Ed25519 signature over ``RelayAPI/authMessage(relay:spaceID:challenge:)``.
        public var signature: String
        /// Spaces with members (bundle format 3, `Specs/membership.md` §8): base64 of the
        /// device key; `certificates` is then empty and the relay decides from the space's
        /// control bundles.
        public var device: String?
        /// Spaces with members: base64 of this device's own control bundles the relay may not
        /// hold yet (its `genesis` or `join`, bundle 1), stored before the relay decides.
        public var bundles: [String]?
        /// Creates a request.
        public init(
            certificates: String, challenge: String, relay: String, signature: String, device: String? = nil, bundles: [String]? = nil
        ) {
            self.certificates = certificates
            self.challenge = challenge
            self.relay = relay
            self.signature = signature
            self.device = device
            self.bundles = bundles
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

    /// `PUT …/snapshot` response (`201` stored, `200` already held).
    public struct SnapshotPutResponse: Codable, Sendable, Hashable {
        /// The snapshot id, 64 lowercase hex characters.
        public var id: String
        /// Whether this upload stored it (false: the relay held it already).
        public var stored: Bool
        /// Creates a response.
        public init(id: String, stored: Bool) {
            self.id = id
            self.stored = stored
        }
    }

    /// One page of `GET …/vector` (§3): authors in ascending order of their bytes.
    public struct VectorPage: Codable, Sendable, Hashable {
        /// Author (hex) → highest contiguous sequence the relay holds.
        public var vector: [String: UInt64]
        /// The last author of this page, to pass as `after` for the next one; absent on the
        /// last page.
        public var next: String?
        /// Creates a page.
        public init(vector: [String: UInt64], next: String? = nil) {
            self.vector = vector
            self.next = next
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
        /// For `snapshot-required`: the id of the snapshot to load (64 lowercase hex characters).
        public var snapshot: String?
        /// Creates a body.
        public init(error: String, message: String, expected: Expected? = nil, snapshot: String? = nil) {
            self.error = error
            self.message = message
            self.expected = expected
            self.snapshot = snapshot
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
