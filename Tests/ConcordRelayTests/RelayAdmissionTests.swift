import AsyncHTTPClient
import Concord
import ConcordSync
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import ConcordRelay

/// §6 "Which spaces": the operator decides which spaces a relay serves; open mode bounds
/// new spaces per client and in total.
@Suite struct RelayAdmissionTests {
    @Test("regression: with an allow list, every request for another space is 403 space-not-served; listed spaces work")
    func allowListRefusesOtherSpaces() async throws {
        let space = try TestSpace()
        try await RelayHarness.with({ $0.spaces = .only([space.id]) }) { relay in
            let alice = try await relay.login(space.alice)
            #expect(try await relay.push(try makeBundles(space.alice, count: 1), to: space.id, token: alice).status == 200)
            for (method, endpoint) in [
                (HTTPMethod.POST, "challenge"), (.POST, "sessions"), (.GET, "vector"), (.POST, "bundles"), (.POST, "pull"),
            ] {
                let answer = try await relay.request(method, RelayAPI.path(space.mallory.spaceID, endpoint), token: alice)
                #expect(answer.status == 403, "\(endpoint)")
                let body = try answer.error()
                #expect(body.error == "space-not-served" && body.message.contains(space.mallory.spaceID.hex), "\(body.message)")
            }
            #expect(try await relay.snapshot(space.mallory.spaceID).bundles.isEmpty)
            // A sync engine reports it as a refusal repeating cannot fix.
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let replica = try Replica.createWithoutMembers(at: directory.path("device"))
            let error = await #expect(throws: ConcordSyncError.self) {
                try await SyncEngine(replica: replica, relay: URL(string: relay.baseURL)!, logger: RelayManyAuthorsTests.quietLogger)
                    .syncNow()
            }
            #expect(error?.httpStatus == 403 && error?.relayCode == "space-not-served" && error?.isTransient == false)
        }
    }

    @Test(
        "regression: open mode holds at most maxSpaces spaces: a push starting one more is 507 too-many-spaces; held spaces go on",
        arguments: StorageBackend.all)
    func openModeBoundsTheNumberOfSpaces(_ backend: StorageBackend) async throws {
        let spaces = try (0..<3).map { _ in try TestSpace() }
        try await RelayHarness.with(backend, { $0.maxSpaces = 2 }) { relay in
            var tokens: [String] = []
            for space in spaces {
                tokens.append(try await relay.login(space.alice))
            }
            var aliceLogs = [BundleLog(), BundleLog(), BundleLog()]
            for index in 0..<2 {
                #expect(
                    try await relay.push(
                        try makeBundles(spaces[index].alice, count: 1, log: &aliceLogs[index]), to: spaces[index].id, token: tokens[index]
                    ).status == 200)
            }
            let refused = try await relay.push(
                try makeBundles(spaces[2].alice, count: 1, log: &aliceLogs[2]), to: spaces[2].id, token: tokens[2])
            #expect(refused.status == 507)
            #expect(try refused.error().error == "too-many-spaces")
            #expect(try await relay.snapshot(spaces[2].id).bundles.isEmpty)
            #expect(
                try await relay.push(try makeBundles(spaces[0].alice, count: 1, log: &aliceLogs[0]), to: spaces[0].id, token: tokens[0])
                    .status == 200)
        }
    }

    @Test("regression: open mode bounds the new spaces one client starts per hour (429); another client may start one")
    func newSpacesPerClientAreBounded() async throws {
        let spaces = try (0..<3).map { _ in try TestSpace() }
        try await RelayHarness.with({
            $0.clientAddressHeader = "X-Forwarded-For"
            $0.newSpacesPerClientPerHour = 1
        }) { relay in
            func push(_ space: TestSpace, from client: String) async throws -> HTTPAnswer {
                let token = try await relay.login(space.alice)
                var request = HTTPClientRequest(url: relay.baseURL + RelayAPI.path(space.id, "bundles"))
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.headers.add(name: "X-Forwarded-For", value: client)
                request.body = .bytes(ByteBuffer(bytes: BundleStreamFraming.encode(try makeBundles(space.alice, count: 1).map(\.bytes))))
                let response = try await relay.http.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 1 << 20)
                return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
            }
            #expect(try await push(spaces[0], from: "198.51.100.1").status == 200)
            let second = try await push(spaces[1], from: "198.51.100.1")
            #expect(second.status == 429)
            #expect(try second.error().error == "rate-limited")
            #expect(try await push(spaces[2], from: "198.51.100.2").status == 200)
        }
    }
}
