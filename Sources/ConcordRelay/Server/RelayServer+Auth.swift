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
        let member: MembershipCheck.Member
        let message = RelayAPI.authMessage(relay: body.relay, spaceID: space, challenge: challenge)
        if let deviceText = body.device {
            member = try await memberOpening(
                space, device: deviceText, bundles: body.bundles ?? [], signature: signatureBytes, message: message,
                client: client(request, context))
        } else {
            member = try MembershipCheck(spaceID: space, maxBundleBytes: configuration.maxBundleBytes).member(presenting: chainBytes)
            guard let signature = try? Signature(bytes: signatureBytes), member.device.isValidSignature(signature, for: message) else {
                throw RelayError(
                    .badSignature,
                    "the signature does not verify under the certificate's device key; sign the auth message with that device's key")
            }
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

extension RelayServer {
    /// A session request in a space with members (`Specs/membership.md` §8): the signature
    /// first (the device holds its key), then the device's own control bundles it brings
    /// (its genesis or join) are verified and stored, then the space's membership decides.
    func memberOpening(
        _ space: SpaceID, device deviceText: String, bundles: [String], signature signatureBytes: [UInt8], message: [UInt8],
        client: ClientKey
    ) async throws -> MembershipCheck.Member {
        guard let deviceBytes = Data(base64Encoded: deviceText), let device = try? PublicKey(bytes: Array(deviceBytes)) else {
            throw RelayError(.malformedRequest, "device must be the base64 of a 32-byte device key")
        }
        guard let signature = try? Signature(bytes: signatureBytes), device.isValidSignature(signature, for: message) else {
            throw RelayError(.badSignature, "the signature does not verify under the device key; sign the auth message with that device's key")
        }
        guard bundles.count <= 4 else {
            throw RelayError(.tooLarge, "a session request brings at most 4 of the device's own control bundles")
        }
        var own: [ChangeBundle] = []
        for text in bundles {
            guard let bytes = Data(base64Encoded: text).map(Array.init), bytes.count <= 65_536 else {
                throw RelayError(.malformedRequest, "each brought bundle must be base64, at most 64 KiB")
            }
            let verifier = BundleVerifier(spaceID: space, format: ChangeBundle.memberFormatVersion)
            let bundle: ChangeBundle
            do {
                bundle = try verifier.verify(bytes)
            } catch {
                throw RelayError(.invalidBundle, "a brought bundle is invalid (\(MembershipCheck.reason(error)))")
            }
            guard bundle.author == device, bundle.isControl else {
                throw RelayError(.invalidBundle, "a session request brings only the device's own control bundles")
            }
            own.append(bundle)
        }
        var entry = try await members.refresh(space, storage: storage)
        if entry.format == ChangeBundle.formatVersion {
            throw RelayError(.notAMember, "space \(space.shortDescription) has no members (bundle format 2): present a certificate chain")
        }
        if !own.isEmpty {
            var limits = SpaceLimits(quotaBytes: configuration.spaceQuotaBytes, maxAuthors: configuration.maxAuthorsPerSpace)
            if case .open = configuration.spaces, try await storage.usage(of: space) == 0 {
                try clients.chargeNewSpace(client)
                limits.maxSpaces = configuration.maxSpaces
            }
            _ = try await storage.append(own.sorted { $0.sequence < $1.sequence }, to: space, limits: limits)
            entry = try await members.refresh(space, storage: storage)
        }
        guard let state = entry.state else {
            throw RelayError(.notAMember, "space \(space.shortDescription) has no genesis here yet; its creator syncs first")
        }
        let head = try await storage.vector(of: space)[device]
        return try MembershipCheck(spaceID: space, maxBundleBytes: configuration.maxBundleBytes).member(device, in: state, next: head + 1)
    }

    /// For a space with members: refuses a session whose device has been removed since it
    /// opened (every push, pull and feed asks).
    func recheck(_ session: RelaySession, in space: SpaceID) async throws {
        // Format-2 spaces (certificate chains) have nothing to recheck: no storage read.
        if members.knownFormat(space) == ChangeBundle.formatVersion { return }
        let entry = try await members.refresh(space, storage: storage)
        guard entry.format == ChangeBundle.memberFormatVersion, let state = entry.state else { return }
        _ = try MembershipCheck(spaceID: space, maxBundleBytes: configuration.maxBundleBytes).member(session.device, in: state, next: .max)
    }
}
