import ConcordCore
import ConcordProtocol
import ConcordCrypto
import ConcordRelayProtocol
import Foundation
import Hummingbird

extension RelayServer {
    /// `POST …/challenge` (§1).
    func challenge(_ context: some RequestContext) throws -> Response {
        let space = try spaceID(context)
        let challenge = try sessions.issueChallenge(for: space)
        return try json(RelayAPI.ChallengeResponse(challenge: Data(challenge).base64EncodedString(), expiresIn: Int(configuration.challengeLifetime.rounded(.down))))
    }

    /// `POST …/sessions` (§1): challenge, then chain, then signature.
    func openSession(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let space = try spaceID(context)
        let body = try await decodeJSON(RelayAPI.SessionRequest.self, from: request, limit: 64 << 10)
        guard let challenge = Data(base64Encoded: body.challenge).map(Array.init), challenge.count == RelayAPI.challengeByteCount,
            let chainBytes = Data(base64Encoded: body.certificates).map(Array.init),
            let signatureBytes = Data(base64Encoded: body.signature).map(Array.init)
        else {
            throw RelayHTTPError.badRequest("challenge, certificates and signature must be base64 (a challenge is 32 bytes)")
        }
        guard sessions.consumeChallenge(challenge, for: space) else {
            throw RelayHTTPError(RelayRefusal(status: 401, code: "challenge", message: "the challenge is unknown, expired or already used; request a new one"))
        }
        let chain: CertificateChain
        do {
            chain = try CertificateChain(bytes: chainBytes)
            try chain.verify(spaceID: space, now: SystemClock().nowMilliseconds(), maxDrift: HybridLogicalClock.defaultMaxDrift)
        } catch {
            throw RelayHTTPError(RelayRefusal(status: 403, code: "not-a-member", message: "the certificate chain does not make this device a member of space \(space.shortDescription): \(Self.reason(error))"))
        }
        guard let signature = try? Signature(bytes: signatureBytes),
            chain.subject.isValidSignature(signature, for: RelayAPI.authMessage(spaceID: space, challenge: challenge))
        else {
            throw RelayHTTPError(RelayRefusal(status: 401, code: "bad-signature", message: "the signature does not verify under the certificate's device key; sign the auth message with that device's key"))
        }
        let isWriter = chain.role == .writer
        let token = sessions.openSession(spaceID: space, device: chain.subject, isWriter: isWriter)
        metrics.sessions.record(sessions.sessionCount)
        logger.info("session opened", metadata: ["space": "\(space.shortDescription)", "device": "\(chain.subject.hex.prefix(16))", "role": "\(isWriter ? "writer" : "reader")"])
        return try json(RelayAPI.SessionResponse(token: token, role: isWriter ? "writer" : "reader", expiresIn: Int(configuration.sessionLifetime.rounded(.down))))
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

    /// The message of a ConcordError, or a description of another error.
    static func reason(_ error: any Error) -> String {
        if let error = error as? ConcordError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}
