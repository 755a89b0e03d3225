import Concord
import ConcordCrypto
import ConcordRelay
import ConcordSync
import Foundation
import Testing

/// §1: challenges and sessions over real HTTP.
@Suite struct RelayServerAuthTests {
    @Test(arguments: StorageBackend.all) func writerAndReaderOpenSessions(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            for (member, role) in [(space.alice, "writer"), (space.carol, "reader")] {
                let challenge = try await relay.challenge(space.id)
                #expect(challenge.count == 32)
                let answer = try await relay.openSession(space.id, certificates: member.certificates!, challenge: challenge, signer: member.device)
                #expect(answer.status == 200)
                let session = try answer.json(RelayAPI.SessionResponse.self)
                #expect(session.role == role && session.expiresIn == 3600)
                #expect(Data(base64Encoded: session.token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "=")?.count == 32)
                #expect(try await relay.vector(space.id, token: session.token) == VersionVector())
            }
        }
    }

    @Test(arguments: StorageBackend.all) func badSignatureIs401(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            let challenge = try await relay.challenge(space.id)
            // Alice's certificates, signed by another key.
            let answer = try await relay.openSession(space.id, certificates: space.alice.certificates!, challenge: challenge, signer: space.bob.device)
            #expect(answer.status == 401)
            #expect(try answer.error().error == "bad-signature")
        }
    }

    @Test(arguments: StorageBackend.all) func reusedChallengeIs401(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            let challenge = try await relay.challenge(space.id)
            let first = try await relay.openSession(space.id, certificates: space.alice.certificates!, challenge: challenge, signer: space.alice.device)
            #expect(first.status == 200)
            let second = try await relay.openSession(space.id, certificates: space.alice.certificates!, challenge: challenge, signer: space.alice.device)
            #expect(second.status == 401)
            #expect(try second.error().error == "challenge")
            // A challenge the relay never issued, and one issued for another space.
            let made = try await relay.openSession(space.id, certificates: space.alice.certificates!, challenge: SecureRandom.bytes(count: 32), signer: space.alice.device)
            #expect(try made.error().error == "challenge")
            let otherSpace = try await relay.challenge(space.mallory.spaceID)
            let crossed = try await relay.openSession(space.id, certificates: space.alice.certificates!, challenge: otherSpace, signer: space.alice.device)
            #expect(crossed.status == 401)
            #expect(try crossed.error().error == "challenge")
        }
    }

    @Test(arguments: StorageBackend.all) func expiredChallengeIs401(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend, { $0.challengeLifetime = 0.2 }) { relay in
            let challenge = try await relay.challenge(space.id)
            try await Task.sleep(for: .milliseconds(400))
            let answer = try await relay.openSession(space.id, certificates: space.alice.certificates!, challenge: challenge, signer: space.alice.device)
            #expect(answer.status == 401)
            #expect(try answer.error().error == "challenge")
        }
    }

    @Test(arguments: StorageBackend.all) func certificateOfAnotherSpaceIs403(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            let challenge = try await relay.challenge(space.id)
            let answer = try await relay.openSession(space.id, certificates: space.mallory.certificates!, challenge: challenge, signer: space.mallory.device)
            #expect(answer.status == 403)
            #expect(try answer.error().error == "not-a-member")
        }
    }

    @Test(arguments: StorageBackend.all) func missingWrongOrForeignTokensAre401(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            let none = try await relay.request(.GET, RelayAPI.path(space.id, "vector"))
            #expect(none.status == 401)
            #expect(try none.error().error == "unauthenticated")
            #expect(none.headers.first(name: "WWW-Authenticate") == "Bearer")
            let wrong = try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: "nonsense")
            #expect(wrong.status == 401)
            let malloryToken = try await relay.login(space.mallory)
            let foreign = try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: malloryToken)
            #expect(foreign.status == 401)
            #expect(try foreign.error().error == "unauthenticated")
        }
    }

    @Test(arguments: StorageBackend.all) func expiredSessionIs401(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend, { $0.sessionLifetime = 0.3 }) { relay in
            let token = try await relay.login(space.alice)
            try await Task.sleep(for: .milliseconds(500))
            let answer = try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: token)
            #expect(answer.status == 401)
            #expect(try answer.error().error == "unauthenticated")
        }
    }

    @Test(arguments: StorageBackend.all) func malformedRequestsAre400And404(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            let badSpace = try await relay.request(.POST, "/v1/spaces/xyz/challenge")
            #expect(badSpace.status == 400)
            #expect(try badSpace.error().error == "bad-request")
            let upper = try await relay.request(.POST, "/v1/spaces/\(space.id.hex.uppercased())/challenge")
            #expect(upper.status == 400)
            let badJSON = try await relay.request(.POST, RelayAPI.path(space.id, "sessions"), body: Array("{".utf8), contentType: "application/json")
            #expect(badJSON.status == 400)
            #expect(try badJSON.error().error == "bad-request")
            let unknown = try await relay.request(.GET, "/v1/nothing")
            #expect(unknown.status == 404)
            #expect(try unknown.error().error == "not-found")
        }
    }
}
