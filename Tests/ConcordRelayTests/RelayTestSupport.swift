import AsyncHTTPClient
@testable import Concord
@testable import ConcordProtocol
import ConcordCrypto
@testable import ConcordRelay
import ConcordSync
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// A temporary directory removed when the value is dropped by `cleanUp()`.
struct TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("concord-relay-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

/// An HTTP answer: status, headers and body.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    /// The body as an error body (§6).
    func error() throws -> RelayAPI.ErrorBody { try JSONDecoder().decode(RelayAPI.ErrorBody.self, from: Data(body)) }

    /// The body decoded as JSON.
    func json<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: Data(body)) }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A relay on 127.0.0.1 (port 0) over SQLite in a temporary directory, and an HTTP client.
struct RelayHarness: Sendable {
    let port: Int
    let storage: any RelayStorage
    let http: HTTPClient

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts a relay, runs `body`, then stops the relay and removes its files.
    static func with<T: Sendable>(
        _ configure: @Sendable (inout RelayConfiguration) -> Void = { _ in },
        storage makeStorage: @Sendable (TemporaryDirectory) throws -> any RelayStorage = { try SQLiteRelayStorage(path: $0.path("relay.sqlite")) },
        _ body: @Sendable (RelayHarness) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let storage = try makeStorage(directory)
        return try await serve(configure, storage: storage, dispose: { await storage.close() }, body)
    }

    /// Starts a relay on a fresh storage of `backend` (see ``StorageBackend/all``), runs
    /// `body`, then stops the relay and disposes of the storage.
    static func with<T: Sendable>(
        _ backend: StorageBackend,
        _ configure: @Sendable (inout RelayConfiguration) -> Void = { _ in },
        _ body: @Sendable (RelayHarness) async throws -> T
    ) async throws -> T {
        let (storage, dispose) = try await backend.open()
        return try await serve(configure, storage: storage, dispose: dispose, body)
    }

    private static func serve<T: Sendable>(
        _ configure: @Sendable (inout RelayConfiguration) -> Void,
        storage: any RelayStorage, dispose: @Sendable () async -> Void,
        _ body: @Sendable (RelayHarness) async throws -> T
    ) async throws -> T {
        var configuration = RelayConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        var logger = Logger(label: "concord.relay.test")
        logger.logLevel = ProcessInfo.processInfo.environment["RELAY_TEST_LOG"] != nil ? .debug : .critical
        let server = RelayServer(configuration: configuration, storage: storage, logger: logger)
        let running: RelayServer.Running
        do {
            running = try await server.start()
        } catch {
            await dispose()
            throw error
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let harness = RelayHarness(port: running.port, storage: storage, http: http)
        do {
            let result = try await body(harness)
            try await http.shutdown()
            await running.stop()
            await dispose()
            return result
        } catch {
            try? await http.shutdown()
            await running.stop()
            await dispose()
            throw error
        }
    }

    /// One HTTP request.
    func request(_ method: HTTPMethod, _ path: String, token: String? = nil, body: [UInt8]? = nil, contentType: String? = nil) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 256 << 20)
        return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: Array(buffer: collected))
    }

    /// Asks for a challenge and returns its bytes.
    func challenge(_ space: SpaceID) async throws -> [UInt8] {
        let answer = try await request(.POST, RelayAPI.path(space, "challenge"))
        #expect(answer.status == 200)
        let response = try answer.json(RelayAPI.ChallengeResponse.self)
        return [UInt8](Data(base64Encoded: response.challenge)!)
    }

    /// This relay's origin as a client that reaches it at ``baseURL`` signs it.
    var origin: String { RelayAPI.origin(of: URL(string: baseURL)!)! }

    /// `POST …/sessions` with the given parts, signed for `relay` (this relay by default).
    func openSession(_ space: SpaceID, certificates: CertificateChain, challenge: [UInt8], signer: Identity, relay: String? = nil) async throws -> HTTPAnswer {
        let relay = relay ?? origin
        let signature = signer.sign(RelayAPI.authMessage(relay: relay, spaceID: space, challenge: challenge))
        let body = RelayAPI.SessionRequest(
            certificates: Data(certificates.bytes).base64EncodedString(), challenge: Data(challenge).base64EncodedString(),
            relay: relay, signature: Data(signature.bytes).base64EncodedString())
        return try await request(.POST, RelayAPI.path(space, "sessions"), body: Array(try JSONEncoder().encode(body)), contentType: "application/json")
    }

    /// A session token for `member` in its space.
    func login(_ member: Membership) async throws -> String {
        let challenge = try await challenge(member.spaceID)
        let answer = try await openSession(member.spaceID, certificates: member.certificates!, challenge: challenge, signer: member.device)
        #expect(answer.status == 200, "\(answer.text)")
        return try answer.json(RelayAPI.SessionResponse.self).token
    }

    /// Pushes bundles as one bundle stream.
    func push(_ bundles: [ChangeBundle], to space: SpaceID, token: String) async throws -> HTTPAnswer {
        try await pushRaw(BundleStreamFraming.encode(bundles.map(\.bytes)), to: space, token: token)
    }

    /// Pushes raw bytes as a bundle stream.
    func pushRaw(_ stream: [UInt8], to space: SpaceID, token: String) async throws -> HTTPAnswer {
        try await request(.POST, RelayAPI.path(space, "bundles"), token: token, body: stream, contentType: RelayAPI.bundleStreamContentType)
    }

    /// Pulls everything above `since`; the bundles' bytes in stream order.
    func pull(_ space: SpaceID, token: String, since: VersionVector = VersionVector()) async throws -> [[UInt8]] {
        let body = try JSONEncoder().encode(RelayAPI.PullRequest(since: RelayAPI.json(since)))
        let answer = try await request(.POST, RelayAPI.path(space, "pull"), token: token, body: Array(body), contentType: "application/json")
        #expect(answer.status == 200, "\(answer.text)")
        var decoder = BundleStreamFraming.Decoder()
        decoder.append(answer.body)
        var frames: [[UInt8]] = []
        while let frame = try decoder.next() { frames.append(frame) }
        #expect(decoder.isFinished)
        return frames
    }

    /// `GET …/vector` as a version vector, every page.
    func vector(_ space: SpaceID, token: String) async throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        var after: String?
        while true {
            let answer = try await request(.GET, RelayAPI.path(space, "vector") + (after.map { "?after=\($0)" } ?? ""), token: token)
            #expect(answer.status == 200, "\(answer.text)")
            let page = try answer.json(RelayAPI.VectorPage.self)
            for (author, sequence) in try RelayAPI.vector(page.vector).entries { entries[author] = sequence }
            guard let next = page.next else { return VersionVector(entries) }
            after = next
        }
    }

    /// What the relay holds for a space: vector, usage and every bundle, for before/after comparisons.
    func snapshot(_ space: SpaceID) async throws -> StorageSnapshot {
        StorageSnapshot(
            vector: try await storage.vector(of: space), usage: try await storage.usage(of: space),
            bundles: try await storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 1_000_000).map(\.bytes))
    }
}

/// What a storage holds for one space.
struct StorageSnapshot: Equatable, Sendable {
    var vector: VersionVector
    var usage: Int64
    var bundles: [[UInt8]]
}

/// A space with writers, a reader and an outsider, and helpers to make bundles.
struct TestSpace: Sendable {
    let alice: Membership
    let bob: Membership
    let carol: Membership
    /// A writer of another space.
    let mallory: Membership

    var id: SpaceID { alice.spaceID }

    init(encrypted: Bool = true) throws {
        alice = Membership.createSpace(encrypted: encrypted)
        bob = try Membership.join(try alice.writerInvite())
        carol = try Membership.join(try alice.readerInvite())
        mallory = Membership.createSpace()
    }
}

/// Seals `count` bundles of `member`, each one setting a field, continuing `log`.
func makeBundles(_ member: Membership, count: Int, log: inout BundleLog, payloadBytes: Int = 8) throws -> [ChangeBundle] {
    var replica = member.makeReplica()
    var bundles: [ChangeBundle] = []
    for index in 0..<count {
        let op = try replica.set("note", to: .string(String(repeating: "x", count: payloadBytes) + "\(index)"), record: RecordID.random(), in: "todos")
        bundles.append(try member.seal([op], appendingTo: &log))
    }
    return bundles
}

/// Seals `count` bundles of `member` on a fresh log.
func makeBundles(_ member: Membership, count: Int, payloadBytes: Int = 8) throws -> [ChangeBundle] {
    var log = BundleLog()
    return try makeBundles(member, count: count, log: &log, payloadBytes: payloadBytes)
}

/// A bundle claiming `spaceID` but signed by `signer` with `certificates` (for example
/// an outsider's chain from another space), stamped `aheadMilliseconds` after now.
/// Unencrypted; the relay never opens payloads.
func forgeBundle(
    spaceID: SpaceID, signer: Identity, certificates: CertificateChain, sequence: UInt64 = 1, previous: BundleID = .zero,
    aheadMilliseconds: UInt64 = 0
) throws -> ChangeBundle {
    let replica = ReplicaID(bytes: signer.publicKey.bytes)!
    let hlc = HLCTimestamp(milliseconds: SystemClock().nowMilliseconds() + aheadMilliseconds, counter: 0)
    let op = RecordOperation(stamp: Stamp(hlc: hlc, replica: replica), collection: "todos", record: RecordID.random(), action: .set(field: "note", value: .string("forged")))
    let header = ChangeBundle.encodeHeader(
        isEncrypted: false, spaceID: spaceID, author: signer.publicKey, sequence: sequence, previous: previous, hlcRange: hlc...hlc,
        certificates: certificates)
    return try ChangeBundle.assemble(header: header, payload: [0] + OperationCodec.encode([op]), signer: signer)
}
