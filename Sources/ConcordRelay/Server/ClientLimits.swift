import Foundation
import NIOCore
import Synchronization

/// Who a client is, for per-client limits: an IPv4 address, or an IPv6 /64 prefix (one
/// subscriber usually holds a whole /64, so counting single IPv6 addresses would let one
/// machine pose as millions of clients).
struct ClientKey: Hashable, Sendable, CustomStringConvertible {
    let description: String

    /// Unknown peers (Unix sockets, a missing address) share one key.
    static let unknown = ClientKey(description: "unknown")

    private init(description: String) { self.description = description }

    /// The key of a TCP peer.
    init(_ address: SocketAddress?) {
        guard let address else {
            self = .unknown
            return
        }
        switch address {
        case .v4:
            self.init(description: address.ipAddress ?? "unknown")
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // An IPv4 peer on a dual-stack socket: ::ffff:a.b.c.d.
            if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                self.init(description: bytes[12...].map(String.init).joined(separator: "."))
            } else {
                let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                self.init(description: groups.joined(separator: ":") + "::/64")
            }
        default:
            self = .unknown
        }
    }

    /// The key of an address written in a proxy header (`X-Forwarded-For: a, b, client`
    /// counts its last entry), or nil when it is not an IP address.
    init?(forwarded header: String) {
        guard let last = header.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty,
            let address = try? SocketAddress(ipAddress: last.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: 0)
        else { return nil }
        self.init(address)
    }
}

/// A token bucket: `rate` tokens a second, at most `burst`.
struct TokenBucket: Sendable {
    var tokens: Double
    var refilled: ContinuousClock.Instant

    init(burst: Double, now: ContinuousClock.Instant) {
        tokens = burst
        refilled = now
    }

    /// Takes one token; otherwise the seconds until one is there.
    mutating func take(rate: Double, burst: Double, now: ContinuousClock.Instant) -> Double? {
        let elapsed = Self.seconds(now - refilled)
        tokens = min(burst, tokens + elapsed * rate)
        refilled = now
        guard tokens >= 1 else { return (1 - tokens) / max(rate, .leastNonzeroMagnitude) }
        tokens -= 1
        return nil
    }

    /// Whether the bucket would be full now (it can be forgotten).
    func isFull(rate: Double, burst: Double, now: ContinuousClock.Instant) -> Bool {
        tokens + Self.seconds(now - refilled) * rate >= burst
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// The relay's per-client state (`Specs/relay-api.md` §6): open connections, the rate of
/// unauthenticated requests, and new spaces started (open mode).
///
/// Memory stays bounded: buckets that have refilled are dropped once a second, and a
/// client without open connections has no connection entry.
final class ClientLimits: Sendable {
    private struct State {
        var connections: [ClientKey: Int] = [:]
        var auth: [ClientKey: TokenBucket] = [:]
        var newSpaces: [ClientKey: TokenBucket] = [:]
        var lastPurge = ContinuousClock.now
    }

    private let state = Mutex(State())
    private let configuration: RelayConfiguration

    init(configuration: RelayConfiguration) {
        self.configuration = configuration
    }

    /// Open connections over all clients.
    var connectionCount: Int { state.withLock { $0.connections.values.reduce(0, +) } }

    /// Counts a new connection of `client`.
    /// - Returns: False (and nothing counted) when the client already holds
    ///   `maxConnectionsPerClient`.
    func openConnection(_ client: ClientKey) -> Bool {
        let limit = configuration.maxConnectionsPerClient
        return state.withLock { state in
            let open = state.connections[client, default: 0]
            guard limit <= 0 || open < limit else { return false }
            state.connections[client] = open + 1
            return true
        }
    }

    /// A counted connection of `client` closed.
    func closeConnection(_ client: ClientKey) {
        state.withLock { state in
            let open = state.connections[client, default: 0] - 1
            state.connections[client] = open > 0 ? open : nil
        }
    }

    /// Charges one unauthenticated request (a challenge or a session) to `client`.
    /// - Throws: ``RelayError`` `.rateLimited` with the seconds to wait.
    func chargeAuthRequest(_ client: ClientKey) throws(RelayError) {
        let rate = configuration.authRequestsPerSecond
        let burst = configuration.authRequestBurst
        let wait: Double? = state.withLock { state in
            let now = ContinuousClock.now
            purgeIfDue(&state, now: now)
            var bucket = state.auth[client] ?? TokenBucket(burst: burst, now: now)
            defer { state.auth[client] = bucket }
            return bucket.take(rate: rate, burst: burst, now: now)
        }
        if let wait {
            throw RelayError(
                .rateLimited, "this address made more than \(rate) authentication requests per second; retry after the Retry-After delay",
                retryAfter: max(1, Int(wait.rounded(.up))))
        }
    }

    /// Charges one new space to `client` (open mode).
    /// - Throws: ``RelayError`` `.rateLimited` with the seconds to wait.
    func chargeNewSpace(_ client: ClientKey) throws(RelayError) {
        let burst = max(1, configuration.newSpacesPerClientPerHour)
        let rate = configuration.newSpacesPerClientPerHour / 3600
        let wait: Double? = state.withLock { state in
            let now = ContinuousClock.now
            purgeIfDue(&state, now: now)
            var bucket = state.newSpaces[client] ?? TokenBucket(burst: burst, now: now)
            defer { state.newSpaces[client] = bucket }
            return bucket.take(rate: rate, burst: burst, now: now)
        }
        if let wait {
            throw RelayError(
                .rateLimited,
                "this address started \(Int(burst)) new spaces on this relay within the hour; retry later or ask the relay operator to serve the space",
                retryAfter: max(1, Int(wait.rounded(.up))))
        }
    }

    /// Forgets full buckets, at most once a second.
    private func purgeIfDue(_ state: inout State, now: ContinuousClock.Instant) {
        guard now - state.lastPurge >= .seconds(1) else { return }
        state.lastPurge = now
        let authRate = configuration.authRequestsPerSecond
        let authBurst = configuration.authRequestBurst
        state.auth = state.auth.filter { !$0.value.isFull(rate: authRate, burst: authBurst, now: now) }
        let spaceRate = configuration.newSpacesPerClientPerHour / 3600
        let spaceBurst = max(1, configuration.newSpacesPerClientPerHour)
        state.newSpaces = state.newSpaces.filter { !$0.value.isFull(rate: spaceRate, burst: spaceBurst, now: now) }
    }
}
