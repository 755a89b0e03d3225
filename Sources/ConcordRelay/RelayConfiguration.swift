import ConcordCore
import ConcordProtocol

/// Where a relay listens and the limits it enforces (`Specs/relay-api.md` §6).
///
/// ```swift
/// var configuration = RelayConfiguration(host: "0.0.0.0", port: 8080)
/// configuration.spaceQuotaBytes = 4 << 30
/// ```
public struct RelayConfiguration: Sendable, Hashable {
    /// The address to bind, for example `"127.0.0.1"` or `"0.0.0.0"`.
    public var host: String
    /// The TCP port; 0 lets the system pick one (see ``RelayServer/run(onListening:)``).
    public var port: Int
    /// The largest request body, in bytes; larger pushes are `413 too-large`. 16 MiB by default.
    public var maxRequestBytes: Int
    /// The most bundle bytes one space may hold; beyond, `507 quota-exceeded`. 1 GiB by default.
    public var spaceQuotaBytes: Int64
    /// Sustained requests per second per session (token bucket refill rate). 50 by default.
    public var requestsPerSecond: Double
    /// Requests a session may make at once (token bucket size). 200 by default.
    public var requestBurst: Double
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
    /// The largest bundle accepted in a push frame. `BundleLimits.defaultMaxBundleBytes` by default.
    public var maxBundleBytes: Int
    /// Bundles read from storage per page of a pull. 256 by default.
    public var pullPageSize: Int
    /// Challenges outstanding at once (unauthenticated callers cannot grow memory without
    /// bound); beyond, `429 rate-limited`. 100,000 by default.
    public var maxOutstandingChallenges: Int

    /// Creates a configuration; every limit has the default of `Specs/relay-api.md`.
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
        self.maxRequestBytes = maxRequestBytes
        self.spaceQuotaBytes = spaceQuotaBytes
        self.requestsPerSecond = requestsPerSecond
        self.requestBurst = requestBurst
        self.maxFeedBacklog = maxFeedBacklog
        self.feedBatchWindow = feedBatchWindow
        self.challengeLifetime = challengeLifetime
        self.sessionLifetime = sessionLifetime
        self.maxBundleBytes = maxBundleBytes
        self.pullPageSize = 256
        self.maxOutstandingChallenges = 100_000
    }
}
