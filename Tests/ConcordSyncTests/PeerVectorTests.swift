import Concord
import ConcordCore
import ConcordCrypto
@testable import ConcordSync
import Foundation
import Testing

/// `Specs/vectors/peer.jsonl` (`Specs/peer-protocol.md` §7): every value is built here
/// from the primitives of §3.1 (BLAKE2b, `crypto_kx`, secretstream, Ed25519, hand-made
/// certificates), independently of `PeerHandshake`; `CONCORD_WRITE_VECTORS=1` rewrites the
/// file, otherwise it must be byte-identical. Then `PeerHandshake`'s state machines must
/// produce exactly those bytes, and refuse every negative case with the named error.
@Suite("Peer protocol vectors", .serialized)
struct PeerVectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let path = root + "/Specs/vectors/peer.jsonl"
    static let issuedAt: UInt64 = 1_700_000_000_000

    // MARK: - Independent construction (§3.1)

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func unhex(_ text: String) -> [UInt8] {
        let chars = Array(text.utf8)
        return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(decoding: chars[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }
    static func b2(_ bytes: [UInt8]) -> [UInt8] { Blake2b.hash(bytes).bytes }
    static func b2(_ bytes: [UInt8], key: SymmetricKey, length: Int = 32) -> [UInt8] { try! Blake2b.hash(bytes, outputLength: length, key: key.secret) }
    static func raw(_ key: SymmetricKey) -> [UInt8] { key.secret.withUnsafeBytes { Array($0) } }
    static func varint(_ value: Int) -> [UInt8] {
        var v = UInt64(value)
        var out: [UInt8] = []
        repeat {
            let byte = UInt8(v & 0x7f)
            v >>= 7
            out.append(v == 0 ? byte : byte | 0x80)
        } while v != 0
        return out
    }

    /// A space of the fixtures: its key, id and peer keys.
    struct SpaceFixture {
        let key: Identity
        let contentKey: SymmetricKey
        let handshakeKey: SymmetricKey
        let discoveryKey: SymmetricKey
        var id: SpaceID { SpaceID(publicKey: key.publicKey) }

        init(seed: UInt8) {
            let seedBytes = [UInt8](repeating: seed, count: 32)
            key = try! Identity(seed: seedBytes)
            contentKey = try! KeyDerivation.deriveKey(from: SymmetricKey(bytes: seedBytes), id: 1, context: "CCcontnt")
            handshakeKey = try! KeyDerivation.deriveKey(from: contentKey, id: 1, context: "CCpeerhs")
            discoveryKey = try! KeyDerivation.deriveKey(from: contentKey, id: 1, context: "CCdiscov")
        }

        /// A one-certificate writer chain (`Specs/wire-format.md` §7.3), signed by `issuer`.
        func chain(for subject: PublicKey, issuer: Identity? = nil) -> [UInt8] {
            var body: [UInt8] = [1] + id.publicKey.bytes + subject.bytes + [1]
            for shift in stride(from: 0, to: 64, by: 8) { body.append(UInt8((PeerVectorTests.issuedAt >> UInt64(shift)) & 0xff)) }
            return [1] + body + (issuer ?? key).sign(body).bytes
        }
    }

    static let space = SpaceFixture(seed: 5)
    static let otherSpace = SpaceFixture(seed: 6)
    static let deviceI = try! Identity(seed: [UInt8](repeating: 7, count: 32))
    static let deviceR = try! Identity(seed: [UInt8](repeating: 9, count: 32))
    static let ephemeralI = try! KeyExchange.KeyPair(seed: [UInt8](repeating: 0x0b, count: 32))
    static let ephemeralR = try! KeyExchange.KeyPair(seed: [UInt8](repeating: 0x0d, count: 32))
    static let ephemeralROther = try! KeyExchange.KeyPair(seed: [UInt8](repeating: 0x0e, count: 32))
    static let headerC2S = [UInt8](repeating: 0x1c, count: 24)
    static let headerS2C = [UInt8](repeating: 0x2c, count: 24)
    static let c2sLabel = Array("concord-peer-v1 c2s".utf8)
    static let s2cLabel = Array("concord-peer-v1 s2c".utf8)
    static let context = Array("concord-peer-auth-v1".utf8) + [0]

    /// Every value of one handshake, with knobs for the deviations of the negative cases.
    struct Transcript {
        var msg1: [UInt8] = []
        var h1: [UInt8] = []
        var h2: [UInt8] = []
        var kxC2S: [UInt8] = []
        var kxS2C: [UInt8] = []
        var kC2S: SymmetricKey!
        var kS2C: SymmetricKey!
        var authR: [UInt8] = []
        var msg2: [UInt8] = []
        var h3: [UInt8] = []
        var authI: [UInt8] = []
        var msg3: [UInt8] = []
        var h4: [UInt8] = []
        var senderC2S: SecretStream.Sender!
        var senderS2C: SecretStream.Sender!
    }

    struct Knobs {
        var helloKey = PeerVectorTests.space.handshakeKey
        var helloVersion: UInt8 = 1
        var helloMagic = Array("CNCP".utf8)
        var responderSpace = PeerVectorTests.space
        var responderDevice = PeerVectorTests.deviceR
        var responderChain: [UInt8]?
        var responderEphemeral = PeerVectorTests.ephemeralR
        var responderSignsH1 = false
        var responderRole: UInt8 = 0x52
        var responderSignsSpace = true
        var flipC2 = false
        var unkeyedStreamKeys = false
        var swapStreamKeys = false
        var initiatorChain: [UInt8]?
        var initiatorSignsH2 = false
        var initiatorRole: UInt8 = 0x49
        var initiatorTrailingByte = false
    }

    static func build(_ knobs: Knobs = Knobs()) -> Transcript {
        var t = Transcript()
        let body = knobs.helloMagic + [knobs.helloVersion] + ephemeralI.publicKey
        t.msg1 = body + b2(body, key: knobs.helloKey, length: 16)
        t.h1 = b2(b2(Array("concord-peer-v1".utf8)) + t.msg1)
        let eR = knobs.responderEphemeral
        t.h2 = b2(t.h1 + eR.publicKey)
        let client = try! KeyExchange.clientSessionKeys(ephemeralI, serverPublicKey: eR.publicKey)
        t.kxC2S = raw(client.send)
        t.kxS2C = raw(client.receive)
        let p = knobs.responderSpace.handshakeKey
        func key(_ label: [UInt8], _ kx: [UInt8]) -> SymmetricKey {
            let material = label + t.h2 + kx
            return try! SymmetricKey(bytes: knobs.unkeyedStreamKeys ? b2(material) : b2(material, key: p))
        }
        t.kC2S = key(c2sLabel, t.kxC2S)
        t.kS2C = key(s2cLabel, t.kxS2C)
        let chainR = knobs.responderChain ?? knobs.responderSpace.chain(for: knobs.responderDevice.publicKey)
        let signedR = context + [knobs.responderRole] + (knobs.responderSignsH1 ? t.h1 : t.h2)
            + (knobs.responderSignsSpace ? knobs.responderSpace.id.publicKey.bytes : []) + knobs.responderDevice.publicKey.bytes + chainR
        t.authR = knobs.responderDevice.publicKey.bytes + varint(chainR.count) + chainR + knobs.responderDevice.sign(signedR).bytes
        t.senderS2C = try! SecretStream.Sender(key: knobs.swapStreamKeys ? t.kC2S : t.kS2C, header: headerS2C)
        var c2 = t.senderS2C.push(t.authR)
        if knobs.flipC2 { c2[5] ^= 0x01 }
        t.msg2 = eR.publicKey + headerS2C + c2
        t.h3 = b2(t.h2 + headerS2C + c2)
        let chainI = knobs.initiatorChain ?? space.chain(for: deviceI.publicKey)
        let signedI = context + [knobs.initiatorRole] + (knobs.initiatorSignsH2 ? t.h2 : t.h3) + space.id.publicKey.bytes + deviceI.publicKey.bytes + chainI
        t.authI = deviceI.publicKey.bytes + varint(chainI.count) + chainI + deviceI.sign(signedI).bytes + (knobs.initiatorTrailingByte ? [0] : [])
        t.senderC2S = try! SecretStream.Sender(key: t.kC2S, header: headerC2S)
        t.msg3 = headerC2S + t.senderC2S.push(t.authI)
        t.h4 = b2(t.h3 + t.msg3)
        return t
    }

    // MARK: - The cases

    struct Case {
        var name: String
        var description: String
        var fields: [(String, String)]
    }

    /// The vector messages after the handshake: I holds its bundle 1, R nothing.
    static let firstMessageI: [UInt8] = [1, 1] + deviceI.publicKey.bytes + [1]
    static let firstMessageR: [UInt8] = [1, 0]

    static func cases() -> [Case] {
        let t = build()
        let firstC2S = t.senderC2S.push(firstMessageI)
        let firstS2C = t.senderS2C.push(firstMessageR)
        let secondC2S = t.senderC2S.push([3])
        let nonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        var window: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { window.append(UInt8((UInt64(5_666_666) >> UInt64(shift)) & 0xff)) }
        let tag = b2(Array("concord-discovery-v1".utf8) + [0] + window + nonce, key: space.discoveryKey, length: 16)
        var cases = [
            Case(name: "handshake", description: "space seed 05x32 (encrypted), I device 07x32, R device 09x32, writers certified at 1700000000000; e_I seed 0bx32, e_R seed 0dx32; headers c2s 1cx24, s2c 2cx24", fields: [
                ("space_id_hex", hex(space.id.publicKey.bytes)), ("content_key_hex", hex(raw(space.contentKey))),
                ("handshake_key_hex", hex(raw(space.handshakeKey))), ("discovery_key_hex", hex(raw(space.discoveryKey))),
                ("device_i_hex", hex(deviceI.publicKey.bytes)), ("device_r_hex", hex(deviceR.publicKey.bytes)),
                ("chain_i_hex", hex(space.chain(for: deviceI.publicKey))), ("chain_r_hex", hex(space.chain(for: deviceR.publicKey))),
                ("e_i_hex", hex(ephemeralI.publicKey)), ("e_r_hex", hex(ephemeralR.publicKey)),
                ("msg1_hex", hex(t.msg1)), ("h1_hex", hex(t.h1)), ("h2_hex", hex(t.h2)),
                ("kx_c2s_hex", hex(t.kxC2S)), ("kx_s2c_hex", hex(t.kxS2C)), ("k_c2s_hex", hex(raw(t.kC2S))), ("k_s2c_hex", hex(raw(t.kS2C))),
                ("auth_r_hex", hex(t.authR)), ("msg2_hex", hex(t.msg2)), ("h3_hex", hex(t.h3)),
                ("auth_i_hex", hex(t.authI)), ("msg3_hex", hex(t.msg3)), ("h4_hex", hex(t.h4)),
                ("first_c2s_plain_hex", hex(firstMessageI)), ("first_c2s_hex", hex(firstC2S)),
                ("first_s2c_plain_hex", hex(firstMessageR)), ("first_s2c_hex", hex(firstS2C)),
            ]),
            Case(name: "discovery_tag", description: "BLAKE2b-128(key = D, \"concord-discovery-v1\" | 00 | window u64 BE | nonce)", fields: [
                ("discovery_key_hex", hex(raw(space.discoveryKey))), ("window", "5666666"), ("nonce_hex", hex(nonce)), ("tag_hex", hex(tag)),
            ]),
        ]
        func negative(_ name: String, _ description: String, side: String, message: [UInt8], expected: String, reason: String) {
            cases.append(Case(name: name, description: description, fields: [("side", side), ("message_hex", hex(message)), ("expected", expected), ("reason", reason)]))
        }
        var k = Knobs()
        k.helloKey = otherSpace.handshakeKey
        negative("hello_wrong_space", "mac1 under another space's handshake key", side: "responder", message: build(k).msg1, expected: "peerProtocol", reason: "not a member")
        k = Knobs(); k.helloVersion = 2
        negative("hello_version_2", "version byte 02", side: "responder", message: build(k).msg1, expected: "peerProtocol", reason: "version 2")
        k = Knobs(); k.helloMagic = Array("CNCQ".utf8)
        negative("hello_not_concord", "magic CNCQ", side: "responder", message: build(k).msg1, expected: "peerProtocol", reason: "not a Concord peer")
        k = Knobs(); k.responderSignsH1 = true
        negative("msg2_signed_over_h1", "sig_R over h1 instead of h2", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "signature")
        k = Knobs(); k.responderRole = 0x49
        negative("msg2_signed_as_initiator", "role byte 49 in sig_R", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "signature")
        k = Knobs(); k.responderSignsSpace = false
        negative("msg2_signed_without_space", "sig_R without the space id", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "signature")
        k = Knobs(); k.flipC2 = true
        negative("msg2_ciphertext_flipped", "one bit of c2 flipped", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "does not decrypt")
        k = Knobs(); k.unkeyedStreamKeys = true
        negative("msg2_keys_without_handshake_key", "stream keys unkeyed BLAKE2b-256 (no P)", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "does not decrypt")
        k = Knobs(); k.swapStreamKeys = true
        negative("msg2_keys_swapped", "auth_R under k_c2s", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "does not decrypt")
        k = Knobs(); k.responderSpace = otherSpace
        negative("msg2_other_space_member", "a valid member of space 06x32", side: "initiator", message: build(k).msg2, expected: "peerProtocol", reason: "does not decrypt")
        k = Knobs(); k.responderChain = space.chain(for: deviceI.publicKey)
        negative("msg2_chain_of_other_device", "R presents I's chain", side: "initiator", message: build(k).msg2, expected: "peerRefused", reason: "another device")
        k = Knobs(); k.responderChain = space.chain(for: deviceR.publicKey, issuer: otherSpace.key)
        negative("msg2_chain_not_from_space", "chain naming the space, signed by another space key", side: "initiator", message: build(k).msg2, expected: "peerRefused", reason: "not a member")
        k = Knobs(); k.responderDevice = deviceI
        negative("msg2_initiator_itself", "R uses I's device key and chain", side: "initiator", message: build(k).msg2, expected: "peerRefused", reason: "itself")
        k = Knobs(); k.initiatorSignsH2 = true
        negative("msg3_signed_over_h2", "sig_I over h2 instead of h3", side: "responder", message: build(k).msg3, expected: "peerProtocol", reason: "signature")
        k = Knobs(); k.initiatorRole = 0x52
        negative("msg3_signed_as_responder", "role byte 52 in sig_I", side: "responder", message: build(k).msg3, expected: "peerProtocol", reason: "signature")
        k = Knobs(); k.responderEphemeral = ephemeralROther
        negative("msg3_replayed_from_other_session", "msg3 of a connection whose e_R came from seed 0ex32", side: "responder", message: build(k).msg3, expected: "peerProtocol", reason: "does not decrypt")
        k = Knobs(); k.initiatorTrailingByte = true
        negative("msg3_trailing_byte", "auth_I with a byte after the signature", side: "responder", message: build(k).msg3, expected: "peerProtocol", reason: "malformed")
        k = Knobs(); k.initiatorChain = space.chain(for: deviceR.publicKey)
        negative("msg3_chain_of_other_device", "I presents R's chain", side: "responder", message: build(k).msg3, expected: "peerRefused", reason: "another device")
        cases.append(Case(name: "frame_replayed", description: "after the handshake, I's first message delivered twice", fields: [
            ("side", "responder"), ("frames_hex", hex(firstC2S) + "," + hex(firstC2S)), ("expected", "peerProtocol"), ("reason", "authentication"),
        ]))
        cases.append(Case(name: "frame_reordered", description: "after the handshake, I's second message (synced) before its first", fields: [
            ("side", "responder"), ("frames_hex", hex(secondC2S) + "," + hex(firstC2S)), ("expected", "peerProtocol"), ("reason", "authentication"),
        ]))
        return cases
    }

    static func render(_ cases: [Case]) -> String {
        cases.map { item in
            let fields = [("name", item.name), ("description", item.description)] + item.fields
            return "{" + fields.map { "\"\($0.0)\":\"\($0.1.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ",") + "}"
        }.joined(separator: "\n") + "\n"
    }

    // MARK: - Tests

    @Test("the vector file is exactly what the spec's primitives give")
    func fileMatchesTheSpec() throws {
        let text = Self.render(Self.cases())
        if ProcessInfo.processInfo.environment["CONCORD_WRITE_VECTORS"] == "1" {
            try text.write(toFile: Self.path, atomically: true, encoding: .utf8)
        }
        let published = try String(contentsOfFile: Self.path, encoding: .utf8)
        #expect(published == text, "Specs/vectors/peer.jsonl differs from §3.1 computed here; regenerate with CONCORD_WRITE_VECTORS=1 only for a deliberate protocol change")
    }

    static func published() throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: String]
            out[object["name"]!] = object
        }
        return out
    }

    static func local(_ device: Identity, _ chain: [UInt8]) -> PeerHandshake.Local {
        PeerHandshake.Local(
            device: device, proof: chain, spaceID: space.id, keys: PeerSpaceKeys(discovery: space.discoveryKey, handshake: space.handshakeKey),
            authorizer: CertificatePeerAuthorizer(spaceID: space.id, physicalClock: FixedClock(milliseconds: issuedAt)))
    }

    static func initiator() -> PeerHandshake.Initiator {
        PeerHandshake.Initiator(local: local(deviceI, space.chain(for: deviceI.publicKey)), ephemeral: ephemeralI, streamHeader: headerC2S)
    }

    static func responder() -> PeerHandshake.Responder {
        PeerHandshake.Responder(local: local(deviceR, space.chain(for: deviceR.publicKey)), ephemeral: ephemeralR, streamHeader: headerS2C)
    }

    @Test("PeerHandshake produces the published handshake byte for byte")
    func stateMachinesProduceTheVectors() throws {
        let v = try #require(try Self.published()["handshake"])
        let keys = try PeerSpaceKeys.derive(spaceSecret: SymmetricKey(bytes: Self.unhex(v["content_key_hex"]!)))
        #expect(Self.hex(Self.raw(keys.handshake)) == v["handshake_key_hex"])
        #expect(Self.hex(Self.raw(keys.discovery)) == v["discovery_key_hex"])
        let initiator = Self.initiator()
        #expect(Self.hex(initiator.hello) == v["msg1_hex"])
        var responder = Self.responder()
        let msg2 = try responder.receiveHello(initiator.hello)
        #expect(Self.hex(msg2) == v["msg2_hex"])
        let (msg3, mine) = try initiator.receive(msg2)
        #expect(Self.hex(msg3) == v["msg3_hex"])
        let theirs = try responder.receive(msg3)
        #expect(Self.hex(mine.transcript) == v["h4_hex"])
        #expect(Self.hex(theirs.transcript) == v["h4_hex"])
        #expect(mine.peer == Self.deviceR.publicKey && theirs.peer == Self.deviceI.publicKey)
        let vectorI = PeerMessage.vector(VersionVector([Self.deviceI.publicKey: 1])).encoded
        #expect(Self.hex(vectorI) == v["first_c2s_plain_hex"])
        #expect(Self.hex(mine.sender.push(vectorI)) == v["first_c2s_hex"])
        #expect(Self.hex(theirs.sender.push(PeerMessage.vector(VersionVector()).encoded)) == v["first_s2c_hex"])
        let tag = try #require(try Self.published()["discovery_tag"])
        #expect(Self.hex(DiscoveryTag.make(key: keys.discovery, window: 5_666_666, nonce: Self.unhex(tag["nonce_hex"]!))) == tag["tag_hex"])
    }

    @Test("every negative vector is refused with its error", arguments: [
        "hello_wrong_space", "hello_version_2", "hello_not_concord", "msg2_signed_over_h1", "msg2_signed_as_initiator",
        "msg2_signed_without_space", "msg2_ciphertext_flipped", "msg2_keys_without_handshake_key", "msg2_keys_swapped",
        "msg2_other_space_member", "msg2_chain_of_other_device", "msg2_chain_not_from_space", "msg2_initiator_itself",
        "msg3_signed_over_h2", "msg3_signed_as_responder", "msg3_replayed_from_other_session", "msg3_trailing_byte",
        "msg3_chain_of_other_device", "frame_replayed", "frame_reordered",
    ])
    func negativeVectorsAreRefused(_ name: String) throws {
        let v = try #require(try Self.published()[name])
        let expected = v["expected"]!
        var thrown: ConcordSyncError?
        do {
            if let frames = v["frames_hex"] {
                let initiator = Self.initiator()
                var responder = Self.responder()
                let (msg3, _) = try initiator.receive(try responder.receiveHello(initiator.hello))
                let established = try responder.receive(msg3)
                for frame in frames.split(separator: ",") {
                    do {
                        _ = try established.receiver.pull(Self.unhex(String(frame)))
                    } catch {
                        throw ConcordSyncError(.peerProtocol, "a message failed authentication")
                    }
                }
            } else if name.hasPrefix("hello") {
                var responder = Self.responder()
                _ = try responder.receiveHello(Self.unhex(v["message_hex"]!))
            } else if name.hasPrefix("msg2") {
                _ = try Self.initiator().receive(Self.unhex(v["message_hex"]!))
            } else {
                var responder = Self.responder()
                _ = try responder.receiveHello(Self.initiator().hello)
                _ = try responder.receive(Self.unhex(v["message_hex"]!))
            }
        } catch let error as ConcordSyncError {
            thrown = error
        }
        let error = try #require(thrown, "\(name) was accepted")
        #expect(error.code.description == expected, "\(name): \(error)")
        #expect(error.message.localizedCaseInsensitiveContains(v["reason"]!), "\(name): \(error.message)")
    }
}
