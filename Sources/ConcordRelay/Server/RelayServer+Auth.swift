import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordRelayProtocol
import Foundation
import Hummingbird

extension RelayServer {
    /// `POST …/challenge` (§1). Bounded per client address, per space and in total.
    func challenge(_ request: Request, _ context: RelayRequestContext) throws -> Response {
        let space = try spaceID(context)
        let client = client(request, context)
        try clients.chargeAuthRequest(client)
        let challenge = try sessions.issueChallenge(for: space, client: client)
        return try json(RelayAPI.ChallengeResponse(challenge: Data(challenge).base64EncodedString(), expiresIn: Int(configuration.challengeLifetime.rounded(.down))))
    }

    /// `POST …/sessions` (§1): challenge, relay origin, membership, then signature. The
    /// cheap checks come first, and each session request uses up a challenge, so the
    /// signature checks cost at most one per challenge a client may hold.
    func openSession(_ request: Request, _ context: RelayRequestContext, origins: AcceptedOrigins) async throws -> Response {
        let space = try spaceID(context)
        try clients.chargeAuthRequest(client(request, context))
        let body = try await decodeJSON(RelayAPI.SessionRequest.self, from: request, limit: 64 << 10)
        guard let challenge = Data(base64Encoded: body.challenge).map(Array.init), challenge.count == RelayAPI.challengeByteCount,
            let chainBytes = Data(base64Encoded: body.certificates).map(Array.init),
            let signatureBytes = Data(base64Encoded: body.signature).map(Array.init)
        else {
            throw RelayError(.malformedRequest, "challenge, certificates and signature must be base64 (a challenge is 32 bytes)")
        }
        guard sessions.consumeChallenge(challenge, for: space) else {
            throw RelayError(.challengeRejected, "the challenge is unknown, expired or already used; request a new one")
        }
        guard origins.accepts(body.relay) else {
            throw RelayError(
                .wrongRelay,
                "the signature is meant for the relay at \(body.relay.prefix(RelayAPI.maxOriginBytes)), and this relay answers as \(origins.summary()). If clients reach this relay under that address, its operator must add it (concord relay serve --public-url)")
        }
        let member = try MembershipCheck(spaceID: space, maxBundleBytes: configuration.maxBundleBytes).member(presenting: chainBytes)
        guard let signature = try? Signature(bytes: signatureBytes),
            member.device.isValidSignature(signature, for: RelayAPI.authMessage(relay: body.relay, spaceID: space, challenge: challenge))
        else {
            throw RelayError(.badSignature, "the signature does not verify under the certificate's device key; sign the auth message with that device's key")
        }
        let token = sessions.openSession(spaceID: space, device: member.device, isWriter: member.isWriter)
        metrics.sessions.record(sessions.sessionCount)
        logger.info(
            "session opened",
            metadata: ["space": "\(space.shortDescription)", "device": "\(member.device.hex.prefix(16))", "role": "\(member.isWriter ? "writer" : "reader")"])
        return try json(RelayAPI.SessionResponse(token: token, role: member.isWriter ? "writer" : "reader", expiresIn: Int(configuration.sessionLifetime.rounded(.down))))
    }

    /// The session of a request: its bearer token, checked and charged to its rate limit.
    func authorize(_ request: Request, _ context: some RequestContext, allowQueryToken: Bool = false, charge: Bool = true) throws -> (SpaceID, RelaySession) {
        let space = try spaceID(context)
        var token: String?
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        } else if allowQueryToken {
            token = request.uri.queryParameters.get("token")
        }
        return (space, try sessions.authorize(token, for: space, charge: charge))
    }
}
