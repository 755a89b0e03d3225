import ConcordCore
import ConcordCrypto
import ConcordProtocol
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
    /// The session's request rate.
    var bucket: TokenBucket
}

/// The relay's in-memory challenges and sessions, and each session's rate limit.
///
/// Challenges are single use. Unauthenticated callers cannot grow memory or lock others
/// out: outstanding challenges are bounded per client address, per space and in total
/// (`Specs/relay-api.md` §6), and expired challenges and sessions are purged as new ones
/// are made, so memory stays bounded by what is live.
final class SessionStore: Sendable {
    private struct State {
        var challenges: [ChallengeKey: Outstanding] = [:]
        var perClient: [ClientKey: Int] = [:]
        var perSpace: [SpaceID: Int] = [:]
        var sessions: [String: RelaySession] = [:]
        var lastPurge = ContinuousClock.now

        mutating func forget(_ outstanding: Outstanding, of space: SpaceID) {
            perClient[outstanding.client] = perClient[outstanding.client].flatMap { $0 > 1 ? $0 - 1 : nil }
            perSpace[space] = perSpace[space].flatMap { $0 > 1 ? $0 - 1 : nil }
        }
    }

    private struct ChallengeKey: Hashable {
        let spaceID: SpaceID
        let challenge: [UInt8]
    }

    private struct Outstanding {
        let expires: ContinuousClock.Instant
        let client: ClientKey
    }

    private let state = Mutex(State())
    private let configuration: RelayConfiguration
    private let clock = ContinuousClock()

    init(configuration: RelayConfiguration) {
        self.configuration = configuration
    }

    /// The number of live sessions.
    var sessionCount: Int { state.withLock { $0.sessions.count } }

    /// The number of outstanding challenges.
    var challengeCount: Int { state.withLock { $0.challenges.count } }

    /// A fresh challenge for `spaceID`, asked for by `client`.
    /// - Throws: ``RelayError`` `.rateLimited` when the client, the space or the relay has
    ///   as many challenges outstanding as allowed (checked in that order, so a flooder
    ///   meets its own limit first).
    func issueChallenge(for spaceID: SpaceID, client: ClientKey) throws(RelayError) -> [UInt8] {
        let challenge = SecureRandom.bytes(count: RelayAPI.challengeByteCount)
        let now = clock.now
        let lifetime = configuration.challengeLifetime
        let retry = max(1, Int(min(lifetime, 5).rounded(.up)))
        let configuration = configuration
        let refusal: RelayError? = state.withLock { state in
            purgeIfDue(&state, now: now)
            if state.perClient[client, default: 0] >= configuration.maxChallengesPerClient {
                return RelayError(
                    .rateLimited,
                    "this address has \(configuration.maxChallengesPerClient) unused challenges; use them or wait until they expire (\(Int(lifetime)) s)",
                    retryAfter: retry)
            }
            if state.perSpace[spaceID, default: 0] >= configuration.maxChallengesPerSpace {
                return RelayError(
                    .rateLimited, "space \(spaceID.shortDescription) has too many unused challenges; retry in a few seconds", retryAfter: retry)
            }
            if state.challenges.count >= configuration.maxOutstandingChallenges {
                return RelayError(.rateLimited, "the relay has too many outstanding challenges; retry in a few seconds", retryAfter: retry)
            }
            state.challenges[ChallengeKey(spaceID: spaceID, challenge: challenge)] = Outstanding(
                expires: now.advanced(by: .seconds(lifetime)), client: client)
            state.perClient[client, default: 0] += 1
            state.perSpace[spaceID, default: 0] += 1
            return nil
        }
        if let refusal { throw refusal }
        return challenge
    }

    /// Takes a challenge out: true if this process issued it for `spaceID`, it is
    /// unexpired and it was not used before. It cannot be used again either way.
    func consumeChallenge(_ challenge: [UInt8], for spaceID: SpaceID) -> Bool {
        let now = clock.now
        let outstanding: Outstanding? = state.withLock { state in
            guard let outstanding = state.challenges.removeValue(forKey: ChallengeKey(spaceID: spaceID, challenge: challenge)) else { return nil }
            state.forget(outstanding, of: spaceID)
            return outstanding
        }
        guard let outstanding else { return false }
        return now < outstanding.expires
    }

    /// Opens a session for a verified device.
    /// - Returns: The bearer token (base64url of 32 random bytes).
    func openSession(spaceID: SpaceID, device: PublicKey, isWriter: Bool) -> String {
        let token = Self.base64URL(SecureRandom.bytes(count: 32))
        let now = clock.now
        let session = RelaySession(
            spaceID: spaceID, device: device, isWriter: isWriter, expires: now.advanced(by: .seconds(configuration.sessionLifetime)),
            bucket: TokenBucket(burst: configuration.requestBurst, now: now))
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
    /// - Throws: ``RelayError`` `.unauthenticated` or `.rateLimited`.
    func authorize(_ token: String?, for spaceID: SpaceID, charge: Bool = true) throws(RelayError) -> RelaySession {
        let now = clock.now
        let configuration = configuration
        let result: Result<RelaySession, RelayError> = state.withLock { state in
            guard let token, var session = state.sessions[token] else {
                return .failure(RelayError(.unauthenticated, "no valid session token; open a session (POST …/challenge, then …/sessions)"))
            }
            guard now < session.expires else {
                state.sessions[token] = nil
                return .failure(RelayError(.unauthenticated, "the session expired; open a new one"))
            }
            guard session.spaceID == spaceID else {
                return .failure(
                    RelayError(
                        .unauthenticated,
                        "this session is for space \(session.spaceID.shortDescription), not \(spaceID.shortDescription); open a session for this space"))
            }
            if charge {
                let wait = session.bucket.take(rate: configuration.requestsPerSecond, burst: configuration.requestBurst, now: now)
                state.sessions[token] = session
                if let wait {
                    return .failure(
                        RelayError(
                            .rateLimited,
                            "this session made more than \(configuration.requestsPerSecond) requests per second; slow down and retry after the Retry-After delay",
                            retryAfter: max(1, Int(wait.rounded(.up)))))
                }
            }
            return .success(session)
        }
        return try result.get()
    }

    /// Drops expired challenges and sessions, at most once a second.
    private func purgeIfDue(_ state: inout State, now: ContinuousClock.Instant) {
        guard now - state.lastPurge >= .seconds(1) else { return }
        state.lastPurge = now
        for (key, outstanding) in state.challenges where now >= outstanding.expires {
            state.challenges[key] = nil
            state.forget(outstanding, of: key.spaceID)
        }
        state.sessions = state.sessions.filter { now < $0.value.expires }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
