import Concord
import ConcordCrypto
@testable import ConcordSync
import Foundation
import Testing

@Suite("DNS-SD messages and discovery tags")
struct DiscoveryTests {
    @Test("a response with every record type round-trips")
    func roundTrip() throws {
        let instance = DNSName("concord-0a1b2c3d._concord._tcp.local")
        let message = DNSMessage(
            flags: DNSMessage.responseFlags,
            answers: [DNSRecord(name: DNSName("_concord._tcp.local"), type: DNSType.ptr, cacheFlush: false, ttl: 120, data: .ptr(instance))],
            additionals: [
                DNSRecord(name: instance, type: DNSType.srv, cacheFlush: true, ttl: 120, data: .srv(priority: 0, weight: 0, port: 7420, target: DNSName("concord-0a1b2c3d.local"))),
                DNSRecord(name: instance, type: DNSType.txt, cacheFlush: true, ttl: 120, data: .txt([Array("v=1".utf8), Array("t=00".utf8)])),
                DNSRecord(name: DNSName("concord-0a1b2c3d.local"), type: DNSType.a, cacheFlush: true, ttl: 120, data: .a([10, 0, 0, 1])),
            ])
        let decoded = try DNSMessage(bytes: message.encoded)
        #expect(decoded.isResponse)
        #expect(decoded.answers == message.answers)
        #expect(decoded.additionals == message.additionals)
        #expect(DNSName("Concord-0A1B2C3D.Local") == DNSName("concord-0a1b2c3d.local"))
    }

    @Test("compressed names are read; loops, truncation and impossible counts are errors, never crashes")
    func compressionAndHostileInput() throws {
        // A query for _concord._tcp.local PTR, then an answer whose name points at it (offset 12).
        var bytes: [UInt8] = [0, 0, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]
        bytes += DNSMessage.encode(DNSName("_concord._tcp.local")) + [0, 12, 0, 1]
        bytes += [0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 120, 0, 2, 0xc0, 12]
        let message = try DNSMessage(bytes: bytes)
        #expect(message.answers.first?.name == DNSName("_concord._tcp.local"))
        #expect(message.answers.first?.data == .ptr(DNSName("_concord._tcp.local")))
        // A pointer to itself.
        let loop: [UInt8] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage(bytes: loop) }
        for cut in 0..<bytes.count {
            _ = try? DNSMessage(bytes: Array(bytes.prefix(cut)))
        }
        let counts: [UInt8] = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage(bytes: counts) }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var noise = bytes
            noise[Int.random(in: 0..<noise.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            _ = try? DNSMessage(bytes: noise)
        }
    }

    @Test("tags match for the current, previous and next window only, and differ per nonce")
    func tags() throws {
        let key = SymmetricKey()
        let nonce = DiscoveryTag.freshNonce()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let window = DiscoveryTag.window(at: now)
        #expect(window == 1_700_000_000 / 300)
        for offset: Int64 in [-1, 0, 1] {
            let tag = DiscoveryTag.make(key: key, window: UInt64(Int64(window) + offset), nonce: nonce)
            #expect(DiscoveryTag.matches(tag, nonce: nonce, key: key, at: now))
        }
        let old = DiscoveryTag.make(key: key, window: window - 2, nonce: nonce)
        #expect(!DiscoveryTag.matches(old, nonce: nonce, key: key, at: now))
        let current = DiscoveryTag.make(key: key, window: window, nonce: nonce)
        #expect(!DiscoveryTag.matches(current, nonce: nonce, key: SymmetricKey(), at: now))
        #expect(!DiscoveryTag.matches(current, nonce: DiscoveryTag.freshNonce(), key: key, at: now))
        #expect(DiscoveryTag.make(key: key, window: window, nonce: DiscoveryTag.freshNonce()) != current)
        #expect(!DiscoveryTag.matches(Array(current.prefix(15)), nonce: nonce, key: key, at: now))
    }
}

@Suite("Peer messages and endpoints")
struct PeerMessageTests {
    @Test("every message round-trips")
    func roundTrip() throws {
        let a = try PublicKey(bytes: [UInt8](repeating: 1, count: 32)), b = try PublicKey(bytes: [UInt8](repeating: 2, count: 32))
        let messages: [PeerMessage] = [
            .vector(VersionVector()), .vector(VersionVector([a: 3, b: 300])), .bundles([[1, 2, 3], [4]]), .synced,
            .ping(7), .pong(.max), .close(.refused, "not a member"), .close(.normal, ""),
        ]
        for message in messages {
            #expect(try PeerMessage(decoding: message.encoded, maxBundleBytes: 1 << 20) == message)
        }
        #expect(PeerMessage.vector(VersionVector([b: 1, a: 2])).encoded == [1, 2] + a.bytes + [2] + b.bytes + [1])
    }

    @Test("malformed messages are protocol errors", arguments: [
        [UInt8](), [0], [9], [1, 1], [1, 1] + [UInt8](repeating: 1, count: 32) + [0], [2, 0], [2, 1, 5, 1], [2, 1, 0],
        [3, 0], [4, 1, 2], [1, 2] + [UInt8](repeating: 2, count: 32) + [1] + [UInt8](repeating: 1, count: 32) + [1],
    ])
    func malformed(_ bytes: [UInt8]) {
        do {
            _ = try PeerMessage(decoding: bytes, maxBundleBytes: 1 << 20)
            Issue.record("accepted \(bytes)")
        } catch let error as ConcordSyncError {
            #expect(error.code == .peerProtocol)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("a bundle above the limit is refused before it is copied")
    func bundleLimit() {
        #expect(throws: ConcordSyncError.self) { try PeerMessage(decoding: [2, 1, 0x81, 0x01] + [UInt8](repeating: 0, count: 129), maxBundleBytes: 128) }
    }

    @Test("peer addresses parse as documented")
    func endpoints() {
        #expect(PeerEndpoint("peer://10.0.0.2:7420") == PeerEndpoint(host: "10.0.0.2", port: 7420))
        #expect(PeerEndpoint("host.local:1") == PeerEndpoint(host: "host.local", port: 1))
        #expect(PeerEndpoint("peer://[fe80::1]:7420") == PeerEndpoint(host: "fe80::1", port: 7420))
        #expect(PeerEndpoint("peer://[fe80::1]:7420")?.description == "peer://[fe80::1]:7420")
        for bad in ["peer://host", "peer://:1", "peer://h:0", "peer://h:65536", "peer://h:x", "peer://a/b:1", "fe80::1:7420", ""] {
            #expect(PeerEndpoint(bad) == nil, "\(bad)")
        }
    }
}
