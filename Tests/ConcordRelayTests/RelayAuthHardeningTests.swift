import AsyncHTTPClient
import Concord
import ConcordCrypto
import ConcordSync
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

@testable import ConcordRelay

/// §1, §6: authentication cannot be denied by a flood, and a session signature is good
/// for the relay it names only.
@Suite struct RelayAuthHardeningTests {
    /// A challenge request from `client` (as a trusted proxy would name it).
    static func challenge(_ relay: RelayHarness, _ space: SpaceID, from client: String) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: relay.baseURL + RelayAPI.path(space, "challenge"))
        request.method = .POST
        request.headers.add(name: "X-Forwarded-For", value: "192.0.2.200, \(client)")
        let response = try await relay.http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
    }

    @Test(
        "regression: a challenge flood from one client (100,000 in the report, scaled down) no longer locks out other clients or other spaces"
    )
    func challengeFloodsAreBoundedPerClientAndPerSpace() async throws {
        let space = try TestSpace()
        let other = try TestSpace()
        try await RelayHarness.with({
            $0.clientAddressHeader = "X-Forwarded-For"
            $0.maxOutstandingChallenges = 40  // the relay-wide bound of 100,000, scaled
            $0.maxChallengesPerClient = 5
            $0.maxChallengesPerSpace = 12
        }) { relay in
            // One client floods: it meets its own bound, with Retry-After.
            var statuses: [Int] = []
            for _ in 0..<30 { statuses.append(try await Self.challenge(relay, space.id, from: "203.0.113.1").status) }
            #expect(statuses.prefix(5).allSatisfy { $0 == 200 } && statuses.dropFirst(5).allSatisfy { $0 == 429 }, "\(statuses)")
            let refused = try await Self.challenge(relay, space.id, from: "203.0.113.1")
            #expect(try refused.error().error == "rate-limited")
            #expect(refused.headers.first(name: "Retry-After").flatMap(Int.init) != nil)
            // Another client of the same space logs in.
            #expect(try await Self.challenge(relay, space.id, from: "203.0.113.2").status == 200)
            #expect(try await relay.login(space.alice).isEmpty == false)
            // Many clients flooding one space lock out only that space, for a while.
            for client in 3..<8 {
                for _ in 0..<5 { _ = try await Self.challenge(relay, space.id, from: "203.0.113.\(client)") }
            }
            #expect(try await Self.challenge(relay, space.id, from: "203.0.113.9").status == 429)
            #expect(try await Self.challenge(relay, other.id, from: "203.0.113.9").status == 200)
            let metrics = try await relay.request(.GET, "/metrics").text
            #expect(metrics.contains(#"concord_relay_refusals_total{code="rate-limited"}"#))
            #expect(metrics.contains("concord_relay_challenges 13"), "12 for the flooded space, 1 for the other")
        }
    }

    @Test(
        "a challenge flood from one TCP peer does not lock out another peer (no proxy header)",
        .enabled(if: RelayAuthHardeningTests.secondLoopbackAddress))
    func challengeFloodsAreBoundedPerPeerAddress() async throws {
        let space = try TestSpace()
        try await RelayHarness.with({
            $0.maxOutstandingChallenges = 40
            $0.maxChallengesPerClient = 5
        }) { relay in
            var statuses: [Int] = []
            for _ in 0..<20 { statuses.append(try await relay.request(.POST, RelayAPI.path(space.id, "challenge")).status) }  // from 127.0.0.1
            #expect(statuses.filter { $0 == 200 }.count == 5 && statuses.last == 429, "\(statuses)")
            let other = try RawHTTPConnection(port: relay.port, source: "127.0.0.2")
            try await other.send("POST \(RelayAPI.path(space.id, "challenge")) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
            let answer = try #require(try await other.readResponse(within: 30))
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        }
    }

    /// Whether this machine routes 127.0.0.2 to itself (Linux does; macOS does not by default).
    static let secondLoopbackAddress: Bool = {
        #if os(Linux)
        return true
        #else
        return false
        #endif
    }()

    @Test("unauthenticated requests are rate limited per client address, with Retry-After")
    func authRequestsAreRateLimitedPerClient() async throws {
        let space = try TestSpace()
        try await RelayHarness.with({
            $0.clientAddressHeader = "X-Forwarded-For"
            $0.authRequestsPerSecond = 0.001  // one token per 1,000 s: no refill even when a loaded machine stalls the test for minutes
            $0.authRequestBurst = 3
        }) { relay in
            for _ in 0..<3 { #expect(try await Self.challenge(relay, space.id, from: "198.51.100.7").status == 200) }
            let limited = try await Self.challenge(relay, space.id, from: "198.51.100.7")
            #expect(limited.status == 429)
            #expect(try limited.error().error == "rate-limited")
            #expect((limited.headers.first(name: "Retry-After").flatMap(Int.init) ?? 0) >= 1)
            #expect(try await Self.challenge(relay, space.id, from: "198.51.100.8").status == 200)
        }
    }

    @Test("client keys: IPv4 as is, IPv6 by /64, IPv4-mapped IPv6 as IPv4; a proxy header counts its last entry")
    func clientKeys() throws {
        #expect(ClientKey(try SocketAddress(ipAddress: "192.0.2.1", port: 1)).description == "192.0.2.1")
        let a = ClientKey(try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 1))
        let b = ClientKey(try SocketAddress(ipAddress: "2001:db8:1:2:ffff::9", port: 1))
        let c = ClientKey(try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 1))
        #expect(a == b && a != c && a.description == "2001:db8:1:2::/64")
        #expect(ClientKey(try SocketAddress(ipAddress: "::ffff:192.0.2.1", port: 1)).description == "192.0.2.1")
        #expect(ClientKey(forwarded: "203.0.113.5, 192.0.2.1")?.description == "192.0.2.1")
        #expect(ClientKey(forwarded: "not an address") == nil)
    }

    /// A relay that forwards the challenges of `honest` to its clients and keeps what they
    /// send to open a session (the attack of `Specs/threat-model.md`, relay operator).
    static func forwardingRelay(to honest: RelayHarness) async throws -> (
        port: Int, captured: @Sendable () -> [UInt8]?, stop: @Sendable () -> Void
    ) {
        let captured = Mutex<[UInt8]?>(nil)
        let router = Router()
        let http = honest.http
        let base = honest.baseURL
        router.post("/v1/spaces/:space/challenge") { request, context -> Response in
            var forwarded = HTTPClientRequest(url: base + request.uri.path)
            forwarded.method = .POST
            let answer = try await http.execute(forwarded, timeout: .seconds(30))
            let body = try await answer.body.collect(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
        }
        router.post("/v1/spaces/:space/sessions") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            captured.withLock { $0 = Array(buffer: body) }
            return Response(status: .serviceUnavailable)
        }
        var logger = Logger(label: "forwarding-relay")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.run() }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        return (port, { captured.withLock { $0 } }, { task.cancel() })
    }

    @Test("regression: a relay that forwards an honest relay's challenge cannot use the member's answer there (401 wrong-relay)")
    func forwardedChallengeIsUselessElsewhere() async throws {
        try await RelayHarness.with { honest in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let replica = try Replica.createWithoutMembers(at: directory.path("device"))
            let evil = try await Self.forwardingRelay(to: honest)
            defer { evil.stop() }
            // The member's real client talks to the malicious relay, which hands it the
            // honest relay's challenge.
            let victim = RelayClient(
                replica: replica, relay: URL(string: "http://127.0.0.1:\(evil.port)")!, logger: RelayManyAuthorsTests.quietLogger)
            await #expect(throws: ConcordSyncError.self) { try await victim.authenticate() }
            let stolen = try #require(evil.captured())
            // Replayed at the honest relay: the signature names the malicious one.
            let replayed = try await honest.request(
                .POST, RelayAPI.path(replica.spaceID, "sessions"), body: stolen, contentType: "application/json")
            #expect(replayed.status == 401, "\(replayed.text)")
            #expect(try replayed.error().error == "wrong-relay")
            // Naming the honest relay instead breaks the signature (a second stolen answer:
            // each replay uses up its challenge).
            await #expect(throws: ConcordSyncError.self) { try await victim.authenticate() }
            var edited = try JSONDecoder().decode(RelayAPI.SessionRequest.self, from: Data(try #require(evil.captured())))
            edited.relay = honest.origin
            let relabelled = try await honest.request(
                .POST, RelayAPI.path(replica.spaceID, "sessions"), body: Array(try JSONEncoder().encode(edited)),
                contentType: "application/json")
            #expect(relabelled.status == 401)
            #expect(try relabelled.error().error == "bad-signature")
            // The same client, talking to the honest relay itself, is welcome.
            try await RelayClient(replica: replica, relay: URL(string: honest.baseURL)!, logger: RelayManyAuthorsTests.quietLogger)
                .authenticate()
        }
    }

    @Test("configured public origins are accepted, others refused; a malformed one stops the relay from starting")
    func publicOrigins() async throws {
        let space = try TestSpace()
        try await RelayHarness.with({ $0.publicOrigins = ["https://Relay.Example.org/"] }) { relay in
            let signedForPublic = try await relay.openSession(
                space.id, certificates: space.alice.certificates!, challenge: try await relay.challenge(space.id),
                signer: space.alice.device,
                relay: "https://relay.example.org:443")
            #expect(signedForPublic.status == 200, "\(signedForPublic.text)")
            let elsewhere = try await relay.openSession(
                space.id, certificates: space.alice.certificates!, challenge: try await relay.challenge(space.id),
                signer: space.alice.device,
                relay: "https://relay.example.net:443")
            #expect(elsewhere.status == 401)
            let body = try elsewhere.error()
            #expect(body.error == "wrong-relay" && body.message.contains("https://relay.example.org:443"), "\(body.message)")
        }
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let storage = try SQLiteRelayStorage(path: directory.path("relay.sqlite"))
        var configuration = RelayConfiguration(host: "127.0.0.1", port: 0)
        configuration.publicOrigins = ["relay.example.org"]
        let error = await #expect(throws: RelayError.self) { try await RelayServer(configuration: configuration, storage: storage).start() }
        #expect(error?.code == .configuration)
        await storage.close()
    }
}
