import ConcordCore
import ConcordProtocol
import ConcordCrypto
import ConcordRelayProtocol
import Foundation
import Synchronization

/// A session a client opened with a signed challenge (`Specs/relay-api.md` §1).
struct RelaySession: Sendable {
    /// The space the session is for.
    let spaceID: SpaceID
    /// The device that signed the challenge.
    let device: PublicKey
    /// Whether the device may push.
    let isWriter: Bool
    /// When the token stops being accepted.
    let expires: ContinuousClock.Instant
    /// Token bucket: requests available now.
    var tokens: Double
    /// Token bucket: when ``tokens`` was last refilled.
    var refilled: ContinuousClock.Instant
}

/// The relay's in-memory challenges and sessions, and each session's rate limit.
///
/// Challenges are single use; expired challenges and sessions are purged as new ones are
/// made, so memory stays bounded by what is live.
final class SessionStore: Sendable {
    private struct State {
        var challenges: [ChallengeKey: ContinuousClock.Instant] = [:]
        var sessions: [String: RelaySession] = [:]
        var lastPurge = ContinuousClock.now
    }

    private struct ChallengeKey: Hashable {
        let spaceID: SpaceID
        let challenge: [UInt8]
    }

    private let state = Mutex(State())
    private let configuration: RelayConfiguration
    private let clock = ContinuousClock()

    init(configuration: RelayConfiguration) {
        self.configuration = configuration
    }

    /// The number of live sessions.
    var sessionCount: Int { state.withLock { $0.sessions.count } }

    /// A fresh challenge for `spaceID`.
    /// - Throws: `429 rate-limited` when too many challenges are outstanding.
    func issueChallenge(for spaceID: SpaceID) throws -> [UInt8] {
        let challenge = SecureRandom.bytes(count: RelayAPI.challengeByteCount)
        let now = clock.now
        try state.withLock { state in
            purgeIfDue(&state, now: now)
            guard state.challenges.count < configuration.maxOutstandingChallenges else {
                throw RelayHTTPError(
                    RelayRefusal(status: 429, code: "rate-limited", message: "the relay has too many outstanding challenges; retry in a few seconds"),
                    retryAfter: 5)
            }
            state.challenges[ChallengeKey(spaceID: spaceID, challenge: challenge)] = now.advanced(by: .seconds(configuration.challengeLifetime))
        }
        return challenge
    }

    /// Takes a challenge out: true if this process issued it for `spaceID`, it is
    /// unexpired and it was not used before. It cannot be used again either way.
    func consumeChallenge(_ challenge: [UInt8], for spaceID: SpaceID) -> Bool {
        let now = clock.now
        let expiry = state.withLock { $0.challenges.removeValue(forKey: ChallengeKey(spaceID: spaceID, challenge: challenge)) }
        guard let expiry else { return false }
        return now < expiry
    }

    /// Opens a session for a verified device.
    /// - Returns: The bearer token (base64url of 32 random bytes).
    func openSession(spaceID: SpaceID, device: PublicKey, isWriter: Bool) -> String {
        let token = Self.base64URL(SecureRandom.bytes(count: 32))
        let now = clock.now
        let session = RelaySession(
            spaceID: spaceID, device: device, isWriter: isWriter, expires: now.advanced(by: .seconds(configuration.sessionLifetime)),
            tokens: configuration.requestBurst, refilled: now)
        state.withLock { state in
            purgeIfDue(&state, now: now)
            state.sessions[token] = session
        }
        return token
    }

    /// The session of `token` for `spaceID`, after taking one request from its bucket.
    /// - Parameters:
    ///   - token: The bearer token, or nil when the request had none.
    ///   - spaceID: The space of the request path.
    ///   - charge: Whether the request counts against the rate limit.
    /// - Throws: `401 unauthenticated` or `429 rate-limited`.
    func authorize(_ token: String?, for spaceID: SpaceID, charge: Bool = true) throws -> RelaySession {
        let now = clock.now
        return try state.withLock { state in
            guard let token, var session = state.sessions[token] else {
                throw RelayHTTPError.unauthenticated("no valid session token; open a session (POST …/challenge, then …/sessions)")
            }
            guard now < session.expires else {
                state.sessions[token] = nil
                throw RelayHTTPError.unauthenticated("the session expired; open a new one")
            }
            guard session.spaceID == spaceID else {
                throw RelayHTTPError.unauthenticated("this session is for space \(session.spaceID.shortDescription), not \(spaceID.shortDescription); open a session for this space")
            }
            if charge {
                let elapsed = Self.seconds(now - session.refilled)
                session.tokens = min(configuration.requestBurst, session.tokens + elapsed * configuration.requestsPerSecond)
                session.refilled = now
                guard session.tokens >= 1 else {
                    state.sessions[token] = session
                    let wait = (1 - session.tokens) / max(configuration.requestsPerSecond, .leastNonzeroMagnitude)
                    throw RelayHTTPError(
                        RelayRefusal(status: 429, code: "rate-limited", message: "this session made more than \(configuration.requestsPerSecond) requests per second; slow down and retry after the Retry-After delay"),
                        retryAfter: max(1, Int(wait.rounded(.up))))
                }
                session.tokens -= 1
                state.sessions[token] = session
            }
            return session
        }
    }

    /// Drops expired challenges and sessions, at most once a second.
    private func purgeIfDue(_ state: inout State, now: ContinuousClock.Instant) {
        guard now - state.lastPurge >= .seconds(1) else { return }
        state.lastPurge = now
        state.challenges = state.challenges.filter { now < $0.value }
        state.sessions = state.sessions.filter { now < $0.value.expires }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
