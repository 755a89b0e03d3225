import AsyncHTTPClient
import Concord
import ConcordCrypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One replica's connection to a relay (`Specs/relay-api.md`): authentication, the
/// relay's vector, push, streamed pull and the live feed. ``SyncEngine`` drives it; use
/// it directly for one-off exchanges.
///
/// ```swift
/// let client = RelayClient(replica: replica, relay: URL(string: "http://127.0.0.1:8080")!)
/// let pulled = try await client.pull()     // ImportSummary of what arrived
/// let pushed = try await client.push()     // bundles the relay stored
/// ```
///
/// Every method authenticates first when there is no session, and on a `401` drops the
/// session, authenticates again and repeats the request once.
public actor RelayClient {
    /// Tunables.
    public struct Options: Sendable, Hashable {
        /// Largest push request body; a push of more bundles is split (the relay's
        /// `maxRequestBytes` is 16 MiB by default).
        public var maxPushBytes: Int
        /// Bundle bytes imported per store transaction during a pull (memory bound).
        public var pullPageBytes: Int
        /// Largest bundle accepted from the relay.
        public var maxBundleBytes: Int
        /// Seconds a JSON request may take.
        public var requestTimeout: Double
        /// Seconds a whole pull or push may take.
        public var transferTimeout: Double
        /// Authors of the relay's vector accepted at most (it is read in pages); a relay
        /// claiming more is refused as broken. 1,000,000 by default.
        public var maxRelayAuthors: Int

        /// The defaults: 4 MiB pushes, 4 MiB import pages, 30 s requests, 10 min transfers.
        /// - Parameters:
        ///   - maxPushBytes: Largest push request body.
        ///   - pullPageBytes: Bundle bytes per import transaction.
        ///   - maxBundleBytes: Largest bundle accepted.
        ///   - requestTimeout: Seconds per JSON request.
        ///   - transferTimeout: Seconds per pull or push request.
        public init(
            maxPushBytes: Int = 4 << 20, pullPageBytes: Int = 4 << 20, maxBundleBytes: Int = BundleLimits.defaultMaxBundleBytes,
            requestTimeout: Double = 30, transferTimeout: Double = 600
        ) {
            self.maxPushBytes = maxPushBytes
            self.pullPageBytes = pullPageBytes
            self.maxBundleBytes = maxBundleBytes
            self.requestTimeout = requestTimeout
            self.transferTimeout = transferTimeout
            self.maxRelayAuthors = 1_000_000
        }
    }

    /// What a push did.
    public struct PushSummary: Sendable, Hashable {
        /// Bundles the relay newly stored.
        public var stored = 0
        /// Bundles the relay already held.
        public var duplicates = 0
        /// Push requests sent.
        public var requests = 0
        /// Creates an empty summary.
        public init() {}
    }

    /// The relay's base URL, for example `http://127.0.0.1:8080`.
    public nonisolated let relay: URL
    /// The replica this client syncs.
    public nonisolated let replica: Replica
    /// The options it was created with.
    public nonisolated let options: Options
    let logger: Logger
    let http: HTTPClient
    var token: String?
    /// The role of the current session (`"writer"` or `"reader"`), once authenticated.
    public private(set) var sessionRole: String?
    /// The relay's clock as of its latest response (its HTTP `Date` header, to the second,
    /// in ms since the Unix epoch): a second opinion on the time when this device's clock
    /// looks wrong (`Specs/hlc.md` §9). `nil` until a response carried one.
    public private(set) var relayTime: UInt64?

    /// Creates a client; nothing is sent until the first call.
    /// - Parameters:
    ///   - replica: The replica to sync.
    ///   - relay: The relay's base URL (`http://host:port`, optionally with a path prefix).
    ///   - options: Tunables.
    ///   - logger: Where debug logs go.
    public init(replica: Replica, relay: URL, options: Options = Options(), logger: Logger = Logger(label: "concord.sync")) {
        self.replica = replica
        self.relay = relay
        self.options = options
        self.logger = logger
        self.http = Self.sharedHTTP
    }

    /// The process's one HTTP client for relays: AsyncHTTPClient's shared configuration,
    /// except that a refused connection fails at once instead of being retried until the
    /// request's deadline (30 s), so "sync now" against a relay that is down reports
    /// `unreachable` immediately; `SyncEngine` does its own backoff. Idle pooled
    /// connections are closed after 20 s, before a relay closes them (its `idleTimeout`,
    /// 30 s by default), so a request never races the relay's close. Never shut down,
    /// like `HTTPClient.shared`.
    static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.idleTimeout = .seconds(20)
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Whether a session token is held.
    public var isAuthenticated: Bool { token != nil }

    /// Forgets the session; the next request authenticates again.
    public func dropSession() {
        token = nil
        sessionRole = nil
    }

    /// Opens a session: asks for a challenge, signs it together with the relay's origin
    /// (so the signature is good for this relay only) with the device key, and sends the
    /// certificate chain (relay-api §1).
    ///
    /// ```swift
    /// try await client.authenticate()
    /// print(await client.sessionRole ?? "?")   // "writer"
    /// ```
    /// - Throws: ``ConcordSyncError`` `.relayRefused` (`403 not-a-member`, `401 bad-signature`,
    ///   `401 wrong-relay`), `.unreachable`.
    public func authenticate() async throws {
        let spaceID = replica.spaceID
        guard let origin = RelayAPI.origin(of: relay) else {
            throw ConcordSyncError(.unreachable, "\(relay.absoluteString) is not a relay URL; give its base, for example http://127.0.0.1:8080")
        }
        let challengeResponse = try await send(method: .POST, RelayAPI.path(spaceID, "challenge"), body: nil, authenticated: false)
        let challenge: RelayAPI.ChallengeResponse = try decodeJSON(challengeResponse)
        guard let challengeBytes = Data(base64Encoded: challenge.challenge), challengeBytes.count == RelayAPI.challengeByteCount else {
            throw ConcordSyncError.relayRefused(status: 200, relayCode: "bad-challenge", message: "the relay at \(relay.absoluteString) sent a malformed challenge; is it a Concord relay?")
        }
        let membership = replica.membership
        let signature = membership.device.sign(RelayAPI.authMessage(relay: origin, spaceID: spaceID, challenge: Array(challengeBytes)))
        var request = RelayAPI.SessionRequest(
            certificates: Data((membership.certificates?.bytes ?? [])).base64EncodedString(),
            challenge: challenge.challenge, relay: origin, signature: Data(signature.bytes).base64EncodedString())
        if membership.isMemberFormat {
            // A space with members (Specs/membership.md §8): the relay decides from the
            // space's control bundles; bring this device's genesis or join, which it may lack.
            request.device = Data(membership.device.publicKey.bytes).base64EncodedString()
            request.bundles = try replica.ownFirstBundle().map { [Data($0.bytes).base64EncodedString()] }
        }
        let response = try await send(method: .POST, RelayAPI.path(spaceID, "sessions"), body: try JSONEncoder().encode(request), authenticated: false)
        let session: RelayAPI.SessionResponse = try decodeJSON(response)
        token = session.token
        sessionRole = session.role
        logger.debug("relay session opened", metadata: ["role": "\(session.role)"])
    }

    /// The relay's version vector for the space: what it holds. Read page by page (the
    /// relay sends a bounded number of authors per response), so a space with many
    /// authors costs more requests, never a larger response.
    /// - Returns: Author → highest contiguous sequence stored at the relay.
    /// - Throws: ``ConcordSyncError``; `.malformedFile` when the pages do not advance or
    ///   name more than ``Options/maxRelayAuthors`` authors.
    public func vector() async throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        var after: String?
        while true {
            var path = RelayAPI.path(replica.spaceID, "vector")
            if let after { path += "?after=\(after)" }
            let page: RelayAPI.VectorPage = try decodeJSON(try await send(method: .GET, path, body: nil))
            for (author, sequence) in try ConcordSyncError.relayProtocol({ try RelayAPI.vector(page.vector) }).entries {
                entries[author] = sequence
            }
            guard entries.count <= options.maxRelayAuthors else {
                throw ConcordSyncError(.malformedFile, "the relay at \(relay.absoluteString) names more than \(options.maxRelayAuthors) authors for this space; it is broken or hostile")
            }
            guard let next = page.next else { return VersionVector(entries) }
            guard next.count == 64, next > (after ?? ""), page.vector[next] != nil else {
                throw ConcordSyncError(.malformedFile, "the relay at \(relay.absoluteString) sent vector pages that do not advance; it is broken")
            }
            after = next
        }
    }

    /// Sends one HTTP request and returns the whole response body; refusals become
    /// ``ConcordSyncError``s. Authenticates first when `authenticated` and there is no
    /// session; on `401` authenticates again and repeats once.
    func send(
        method: HTTPMethod, _ path: String, body: Data?, contentType: String = "application/json",
        authenticated: Bool = true, timeout: Double? = nil
    ) async throws -> ByteBuffer {
        let limit = 1 << 20
        return try await exchange(method: method, path, body: body.map { ByteBuffer(bytes: $0) }, contentType: contentType, authenticated: authenticated, timeout: timeout) { response in
            try await response.body.collect(upTo: limit)
        }
    }

    /// Sends a request and hands a `200` (or `201`) response to `read`. The one place that maps
    /// transport failures and refusals to errors and re-authenticates on `401`.
    func exchange<T: Sendable>(
        method: HTTPMethod, _ path: String, body: ByteBuffer?, contentType: String, authenticated: Bool = true,
        timeout: Double? = nil, read: (HTTPClientResponse) async throws -> T
    ) async throws -> T {
        var retried = false
        while true {
            if authenticated && token == nil { try await authenticate() }
            var request = HTTPClientRequest(url: url(path))
            request.method = method
            if let body {
                request.body = .bytes(body)
                request.headers.add(name: "Content-Type", value: contentType)
            }
            if authenticated, let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .milliseconds(Int64((timeout ?? options.requestTimeout) * 1000)))
            } catch {
                throw unreachable(error)
            }
            if let date = response.headers.first(name: "Date").flatMap(Self.httpDate) { relayTime = date }
            // `201 Created` answers a snapshot upload that stored it (`PUT …/snapshot`).
            if response.status == .ok || response.status == .created { return try await read(response) }
            let refusal = await refusalError(response)
            if response.status == .unauthorized && authenticated && !retried {
                retried = true
                dropSession()
                continue
            }
            if response.status == .unauthorized { dropSession() }
            throw refusal
        }
    }

    /// The error for a non-`200` response, from its JSON body when it has one.
    func refusalError(_ response: HTTPClientResponse) async -> ConcordSyncError {
        let status = Int(response.status.code)
        let body = try? await response.body.collect(upTo: 64 << 10)
        let parsed = body.flatMap { try? JSONDecoder().decode(RelayAPI.ErrorBody.self, from: Data($0.readableBytesView)) }
        let retryAfter = response.headers.first(name: "Retry-After").flatMap(Double.init)
        let code = parsed?.error ?? "http-\(status)"
        var message = parsed?.message ?? "the relay answered HTTP \(status) \(response.status.reasonPhrase)"
        switch status {
        case 401:
            var error = ConcordSyncError(.unauthenticated, "the relay did not accept this device's session (\(code): \(message)); check the device's clock and that it still belongs to the space")
            error.httpStatus = status
            error.relayCode = code
            return error
        case 401 where code == "wrong-relay":
            // Not a lapsed session: signing again cannot help until the operator fixes it.
            return ConcordSyncError.relayRefused(status: status, relayCode: code, message: "relay refused (\(status) \(code)): \(message)")
        case 403 where code == "space-not-served":
            message += " (use another relay, or ask this one's operator to serve the space)"
        case 403 where code != "read-only":
            message += " (the relay does not count this device as a member of the space)"
        case 409 where code == "snapshot-required":
            var error = ConcordSyncError(
                .snapshotRequired,
                "the relay at \(relay.absoluteString) no longer keeps bundles this device lacks (\(message))")
            error.httpStatus = status
            error.relayCode = code
            error.snapshotID = (parsed?.snapshot ?? response.headers.first(name: RelayAPI.snapshotRequiredHeader)).flatMap {
                try? Digest32(hex: $0)
            }
            return error
        case 409 where code == "fork":
            message += " (two copies of one device's store wrote: the copy whose change was refused runs `concord recover`)"
        default:
            break
        }
        var error = ConcordSyncError.relayRefused(status: status, relayCode: code, message: "relay refused (\(status) \(code)): \(message)", retryAfter: retryAfter)
        if let expected = parsed?.expected {
            error.expectedAuthor = expected.author
            error.expectedSequence = expected.sequence
            logger.debug("relay expects", metadata: ["author": "\(expected.author.prefix(8))", "sequence": "\(expected.sequence)"])
        }
        return error
    }

    /// An HTTP date (`Sun, 06 Dec 2026 10:15:00 GMT`, RFC 9110 §5.6.7) in ms since the
    /// Unix epoch.
    static func httpDate(_ text: String) -> UInt64? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text), date.timeIntervalSince1970 >= 0 else { return nil }
        return UInt64(date.timeIntervalSince1970 * 1000)
    }

    /// A transport failure as `.unreachable` (errors already typed pass through).
    func unreachable(_ error: any Error) -> any Error {
        if error is ConcordSyncError || error is CancellationError { return error }
        return ConcordSyncError(.unreachable, "cannot reach the relay at \(relay.absoluteString) (\(error)); check the URL and the network, sync resumes when it is back")
    }

    /// `relay` + `path`.
    nonisolated func url(_ path: String) -> String {
        var base = relay.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }

    /// A `200` body decoded as JSON.
    func decodeJSON<T: Decodable>(_ buffer: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw ConcordSyncError.relayRefused(status: 200, relayCode: "bad-response", message: "the relay at \(relay.absoluteString) answered with an unexpected body (not \(T.self)); is it a Concord relay of protocol \(RelayAPI.version)?")
        }
    }
}
