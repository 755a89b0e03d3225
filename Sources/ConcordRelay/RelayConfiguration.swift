import ConcordCore
import ConcordProtocol

/// Where a relay listens, which spaces it serves, and the limits it enforces
/// (`Specs/relay-api.md` §6). Every limit has a default; tests scale them down.
///
/// ```swift
/// var configuration = RelayConfiguration(host: "0.0.0.0", port: 8080)
/// configuration.spaces = .only([classroom])                       // serve one space
/// configuration.publicOrigins = ["https://relay.example.org"]     // behind a TLS proxy
/// configuration.clientAddressHeader = "X-Forwarded-For"
/// ```
public struct RelayConfiguration: Sendable, Hashable {
    /// The address to bind, for example `"127.0.0.1"` or `"0.0.0.0"`.
    public var host: String
    /// The TCP port; 0 lets the system pick one (see ``RelayServer/run(onListening:)``).
    public var port: Int

    // MARK: Which spaces

    /// Which spaces the relay serves: any (``SpaceAdmission/open``, bounded by
    /// ``maxSpaces`` and ``newSpacesPerClientPerHour``) or a fixed list. Open by default.
    public var spaces: SpaceAdmission
    /// Open mode: the most spaces the relay holds; a push that would start another is
    /// `507 too-many-spaces`. 1,000 by default.
    public var maxSpaces: Int
    /// Open mode: new spaces one client (address) may start per hour (token bucket); beyond,
    /// `429 rate-limited`. 10 by default.
    public var newSpacesPerClientPerHour: Double

    // MARK: Who is asking

    /// Origins (`https://relay.example.org`) under which clients reach this relay, besides
    /// `http://` and its local addresses and host names at the listening port. A session
    /// signed for another origin is `401 wrong-relay` (`Specs/relay-api.md` §1). Set it
    /// when the relay is reached through a proxy, a DNS name or a forwarded port.
    public var publicOrigins: [String]
    /// A header a trusted reverse proxy sets to the client's address (`X-Forwarded-For`:
    /// its last entry counts). Nil by default: the TCP peer is the client. When set,
    /// per-client request limits use it and ``maxConnectionsPerClient`` does not apply (the
    /// proxy is the only peer; bound connections there).
    public var clientAddressHeader: String?

    // MARK: Sizes and quotas

    /// The largest request body, in bytes; larger pushes are `413 too-large`. 16 MiB by default.
    public var maxRequestBytes: Int
    /// Request body bytes the relay holds in memory at once, over all requests; a request
    /// that would pass it is `503 busy` with `Retry-After`. 64 MiB by default.
    public var maxInFlightBodyBytes: Int
    /// The most bundle bytes one space may hold; beyond, `507 quota-exceeded`. 1 GiB by default.
    public var spaceQuotaBytes: Int64
    /// The most authors (device keys) whose bundles one space may hold; a push that brings
    /// more is `507 too-many-authors`. Also bounds a pull's `since` vector. 10,000 by default.
    public var maxAuthorsPerSpace: Int
    /// The largest bundle accepted in a push frame. `BundleLimits.defaultMaxBundleBytes` by default.
    public var maxBundleBytes: Int
    /// The largest snapshot upload (`PUT …/snapshot`: manifest and chunks together), in
    /// bytes; larger is `413 too-large`. Also bounded by ``maxInFlightBodyBytes``. 32 MiB by default.
    public var maxSnapshotBytes: Int = 32 << 20
    /// How long the relay keeps the bytes of data bundles that the space's latest snapshot
    /// covers (`Specs/snapshots.md` §5.2): older ones (by `hlc max`), at or below the
    /// snapshot's vector and every counted member's acknowledgement, are dropped; a pull
    /// that needs them is `409 snapshot-required`. 30 days by default; ``RetentionPeriod/forever``
    /// keeps everything (`concord relay serve --retention 30d | 0 | forever`).
    public var retention: RetentionPeriod = .days(30)
    /// Seconds between retention passes a space's pushes start (each snapshot upload runs
    /// one at once). 300 by default; 0 runs one after every push that stored a bundle.
    public var retentionPassInterval: Double = 300
    /// Bundles read from storage per page of a pull. 256 by default.
    public var pullPageSize: Int
    /// Authors per page of `GET …/vector`, and the most a client may ask for. 4,096 by default.
    public var vectorPageSize: Int

    // MARK: Rates

    /// Sustained requests per second per session (token bucket refill rate). 50 by default.
    public var requestsPerSecond: Double
    /// Requests a session may make at once (token bucket size). 200 by default.
    public var requestBurst: Double
    /// Unauthenticated requests (challenges, sessions) per second per client address. 20 by default.
    public var authRequestsPerSecond: Double
    /// Unauthenticated requests a client address may make at once. 200 by default.
    public var authRequestBurst: Double
    /// Challenges outstanding at once over the whole relay; beyond, `429 rate-limited`. 100,000 by default.
    public var maxOutstandingChallenges: Int
    /// Challenges one client address may hold outstanding. 256 by default.
    public var maxChallengesPerClient: Int
    /// Challenges outstanding for one space. 4,096 by default.
    public var maxChallengesPerSpace: Int

    // MARK: Connections and time

    /// Connections one client address may hold open; more are answered `429
    /// too-many-connections` and closed. 256 by default; 0 turns the limit off.
    public var maxConnectionsPerClient: Int
    /// Seconds a connection may wait for the next complete request head (a new connection,
    /// or one kept alive after a response); then `408 request-timeout` and closed. 30 by default.
    public var idleTimeout: Double
    /// Seconds within which a request's body must arrive once its head did; then `408
    /// request-timeout` and closed. 120 by default.
    public var requestTimeout: Double
    /// Seconds a stopping relay lets requests in flight finish before it cancels them. 5 by default.
    public var shutdownGracePeriod: Double

    // MARK: Feeds and auth

    /// Bundles a feed subscriber may fall behind before it is closed with 4008. 1024 by default.
    public var maxFeedBacklog: Int
    /// Seconds within which the live feed coalesces bundles of one space into one message
    /// per subscriber when bundles arrive faster than that; an idle feed sends at once
    /// (`Specs/relay-api.md` §5). 0.02 by default; 0 sends every bundle as soon as it is read.
    public var feedBatchWindow: Double
    /// Seconds a challenge stays valid. 60 by default.
    public var challengeLifetime: Double
    /// Seconds a session token stays valid. 3600 by default.
    public var sessionLifetime: Double

    /// Creates a configuration; every limit has the default of `Specs/relay-api.md` §6, and
    /// the ones not named here are properties to set.
    /// - Parameters:
    ///   - host: The address to bind.
    ///   - port: The TCP port; 0 for any free port.
    ///   - maxRequestBytes: The largest request body.
    ///   - spaceQuotaBytes: The most bundle bytes per space.
    ///   - requestsPerSecond: Token bucket refill rate per session.
    ///   - requestBurst: Token bucket size per session.
    ///   - maxFeedBacklog: Bundles a subscriber may lag before it is closed.
    ///   - feedBatchWindow: Seconds within which a busy feed coalesces bundles.
    ///   - challengeLifetime: Seconds a challenge is valid.
    ///   - sessionLifetime: Seconds a session is valid.
    ///   - maxBundleBytes: The largest bundle.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxRequestBytes: Int = 16 << 20, spaceQuotaBytes: Int64 = 1 << 30,
        requestsPerSecond: Double = 50, requestBurst: Double = 200, maxFeedBacklog: Int = 1024,
        feedBatchWindow: Double = 0.02, challengeLifetime: Double = 60, sessionLifetime: Double = 3600, maxBundleBytes: Int = BundleLimits.defaultMaxBundleBytes
    ) {
        self.host = host
        self.port = port
        self.spaces = .open
        self.maxSpaces = 1000
        self.newSpacesPerClientPerHour = 10
        self.publicOrigins = []
        self.clientAddressHeader = nil
        self.maxRequestBytes = maxRequestBytes
        self.maxInFlightBodyBytes = 64 << 20
        self.spaceQuotaBytes = spaceQuotaBytes
        self.maxAuthorsPerSpace = 10_000
        self.maxBundleBytes = maxBundleBytes
        self.pullPageSize = 256
        self.vectorPageSize = 4096
        self.requestsPerSecond = requestsPerSecond
        self.requestBurst = requestBurst
        self.authRequestsPerSecond = 20
        self.authRequestBurst = 200
        self.maxOutstandingChallenges = 100_000
        self.maxChallengesPerClient = 256
        self.maxChallengesPerSpace = 4096
        self.maxConnectionsPerClient = 256
        self.idleTimeout = 30
        self.requestTimeout = 120
        self.shutdownGracePeriod = 5
        self.maxFeedBacklog = maxFeedBacklog
        self.feedBatchWindow = feedBatchWindow
        self.challengeLifetime = challengeLifetime
        self.sessionLifetime = sessionLifetime
    }

    /// The largest `since` body of a pull: room for ``maxAuthorsPerSpace`` entries of
    /// `"<64 hex>": <20 digits>`, never more than ``maxRequestBytes``.
    var maxPullRequestBytes: Int {
        min(maxRequestBytes, 1024 + maxAuthorsPerSpace.multipliedReportingOverflow(by: 96).partialValue)
    }
}

/// Which spaces a relay serves (`Specs/relay-api.md` §6, "Which spaces").
///
/// ```swift
/// configuration.spaces = .only([try SpaceID(hex: "7f3a…")])
/// ```
public enum SpaceAdmission: Sendable, Hashable {
    /// Any space a member authenticates for; new spaces are bounded per client and in
    /// total (``RelayConfiguration/newSpacesPerClientPerHour``, ``RelayConfiguration/maxSpaces``).
    case open
    /// Only these spaces; every request for another is `403 space-not-served`.
    case only(Set<SpaceID>)

    /// Whether `space` is served.
    /// - Parameters:
    ///   - space: The space of a request.
    /// - Returns: True for any space when open, else for the listed ones.
    public func admits(_ space: SpaceID) -> Bool {
        switch self {
        case .open: true
        case .only(let spaces): spaces.contains(space)
        }
    }
}
