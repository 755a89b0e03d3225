import AsyncHTTPClient
import Concord
import ConcordCore
import ConcordCrypto
import ConcordSync
import Foundation
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Peak resident memory of this process, MB.
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("concord-relay-bench: \(message)\n".utf8))
    exit(2)
}

/// The key of a bundle on the feed: the last 8 bytes (the tail of its signature).
func bundleKey(_ bytes: some Collection<UInt8>) -> UInt64 {
    var key: UInt64 = 0
    for byte in bytes.suffix(8) { key = key << 8 | UInt64(byte) }
    return key
}

/// Seals `count` bundles of `opsPerBundle` LWW writes each, as one chain of `member`.
/// Writes within a bundle go to distinct records, so none coalesce away.
func sealChain(_ member: Membership, count: Int, opsPerBundle: Int, seed: UInt64) throws -> [ChangeBundle] {
    var replica = member.makeReplica()
    let recordCount = max(opsPerBundle, count * opsPerBundle / 10)
    var previous: ChangeBundle?
    var out: [ChangeBundle] = []
    out.reserveCapacity(count)
    var n = 0
    for _ in 0..<count {
        var ops: [RecordOperation] = []
        ops.reserveCapacity(opsPerBundle)
        for _ in 0..<opsPerBundle {
            let record = RecordID(high: seed, low: UInt64(n % recordCount))
            ops.append(try replica.set("score", to: .int(Int64(n)), record: record, in: "progress"))
            n += 1
        }
        let bundle = try member.seal(ops, previous: previous)
        out.append(bundle)
        previous = bundle
    }
    return out
}

/// A minimal client of `Specs/relay-api.md` for load generation: it speaks the protocol
/// directly so the benchmark measures the relay, not the engine's pacing.
struct LoadClient: Sendable {
    let http: HTTPClient
    let base: String

    func post(_ path: String, json: some Encodable, token: String? = nil) async throws -> (Int, [UInt8]) {
        try await post(path, body: Array(try JSONEncoder().encode(json)), contentType: "application/json", token: token)
    }

    func post(_ path: String, body: [UInt8], contentType: String, token: String? = nil) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(120))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }

    func get(_ path: String) async throws -> (Int, [UInt8]) {
        let response = try await http.execute(HTTPClientRequest(url: base + path), timeout: .seconds(120))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }

    /// Challenge, sign, session: returns a bearer token.
    func authenticate(_ member: Membership) async throws -> String {
        let space = member.spaceID
        let (status, body) = try await post(RelayAPI.path(space, "challenge"), body: [], contentType: "application/json")
        guard status == 200 else { throw BenchError("challenge: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        let challenge = try JSONDecoder().decode(RelayAPI.ChallengeResponse.self, from: Data(body))
        guard let nonce = Data(base64Encoded: challenge.challenge) else { throw BenchError("challenge is not base64") }
        guard let origin = URL(string: base).flatMap(RelayAPI.origin(of:)) else { throw BenchError("\(base) is not a relay URL") }
        let signature = member.device.sign(RelayAPI.authMessage(relay: origin, spaceID: space, challenge: Array(nonce)))
        let request = RelayAPI.SessionRequest(
            certificates: Data(member.certificates!.bytes).base64EncodedString(),
            challenge: challenge.challenge, relay: origin,
            signature: Data(signature.bytes).base64EncodedString())
        let (sessionStatus, sessionBody) = try await post(RelayAPI.path(space, "sessions"), json: request)
        guard sessionStatus == 200 else { throw BenchError("session: HTTP \(sessionStatus) \(String(decoding: sessionBody, as: UTF8.self))") }
        return try JSONDecoder().decode(RelayAPI.SessionResponse.self, from: Data(sessionBody)).token
    }

    /// Pushes bundles as one all-or-nothing request.
    func push(_ bundles: [[UInt8]], space: SpaceID, token: String) async throws {
        let (status, body) = try await post(RelayAPI.path(space, "bundles"), body: BundleStreamFraming.encode(bundles), contentType: RelayAPI.bundleStreamContentType, token: token)
        guard status == 200 else { throw BenchError("push: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Per-subscriber delivery times (seconds), written by one connection only.
final class DeliveryLog: Sendable {
    private let state = Mutex<(ready: Bool, times: [UInt64: Double])>((false, [:]))
    func markReady() { state.withLock { $0.ready = true } }
    var isReady: Bool { state.withLock { $0.ready } }
    func record(_ key: UInt64, at time: Double) -> Int {
        state.withLock {
            if $0.times[key] == nil { $0.times[key] = time }
            return $0.times.count
        }
    }
    var times: [UInt64: Double] { state.withLock { $0.times } }
}

/// Send times by bundle key.
final class SendLog: Sendable {
    private let state = Mutex<[UInt64: Double]>([:])
    func record(_ key: UInt64, at time: Double) { state.withLock { $0[key] = time } }
    var times: [UInt64: Double] { state.withLock { $0 } }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[index]
}
