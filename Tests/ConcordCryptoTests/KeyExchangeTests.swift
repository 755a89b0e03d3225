import CSodium
import ConcordCrypto
import Testing

@Suite("X25519 key exchange (crypto_kx)")
struct KeyExchangeTests {
    // Computed with PyNaCl 1.6.2 (nacl.bindings.crypto_kx_seed_keypair / crypto_kx_client_session_keys).
    static let clientPublic = "4acd374173cc6f2b55c759ef6e782ca307e79821f4da89a678077f8b796a3f65"
    static let serverPublic = "897ce1ee4bd0beee4bcbed29a0715cffa4a0e10eb35876cc20a38e8fba382c22"
    static let clientReceive = "189c5904e94a3805c4e7dad0b1f9fe3fa762a465cd06a369c247a77f40de77b1"
    static let clientSend = "5817539c8bb8301bd311082871272356895dc5662345adfa8fd775d6be81d1f3"

    static func raw(_ key: SymmetricKey) -> [UInt8] { key.secret.withUnsafeBytes { Array($0) } }

    @Test("fixed seeds give PyNaCl's public and session keys, and both sides agree")
    func knownAnswer() throws {
        let client = try KeyExchange.KeyPair(seed: [UInt8](repeating: 0x0b, count: 32))
        let server = try KeyExchange.KeyPair(seed: [UInt8](repeating: 0x0d, count: 32))
        #expect(hex(client.publicKey) == Self.clientPublic)
        #expect(hex(server.publicKey) == Self.serverPublic)
        let c = try KeyExchange.clientSessionKeys(client, serverPublicKey: server.publicKey)
        let s = try KeyExchange.serverSessionKeys(server, clientPublicKey: client.publicKey)
        #expect(hex(Self.raw(c.receive)) == Self.clientReceive)
        #expect(hex(Self.raw(c.send)) == Self.clientSend)
        #expect(c.send.isEqual(to: s.receive) && c.receive.isEqual(to: s.send))
        #expect(!c.send.isEqual(to: c.receive))
    }

    @Test("fresh pairs differ; a third party's keys do not match")
    func freshPairs() throws {
        let a = KeyExchange.KeyPair(), b = KeyExchange.KeyPair(), eve = KeyExchange.KeyPair()
        #expect(a.publicKey != b.publicKey)
        let ab = try KeyExchange.clientSessionKeys(a, serverPublicKey: b.publicKey)
        let eb = try KeyExchange.clientSessionKeys(eve, serverPublicKey: b.publicKey)
        #expect(!ab.send.isEqual(to: eb.send))
        #expect(!a.description.contains(hex(Self.raw(ab.send))))
    }

    @Test("a low-order point and a wrong length are typed errors")
    func badPublicKeys() throws {
        let pair = KeyExchange.KeyPair()
        #expect(throws: ConcordCryptoError.self) { try KeyExchange.clientSessionKeys(pair, serverPublicKey: [UInt8](repeating: 0, count: 32)) }
        do {
            _ = try KeyExchange.serverSessionKeys(pair, clientPublicKey: [UInt8](repeating: 0, count: 32))
            Issue.record("the all-zero point was accepted")
        } catch let error as ConcordCryptoError {
            #expect(error.code == .keyExchangeFailed)
        }
        do {
            _ = try KeyExchange.clientSessionKeys(pair, serverPublicKey: [1, 2, 3])
            Issue.record("a 3-byte key was accepted")
        } catch let error as ConcordCryptoError {
            #expect(error.code == .invalidLength)
        }
        #expect(throws: ConcordCryptoError.self) { try KeyExchange.KeyPair(seed: [1]) }
    }
}

@Suite("Secret stream (crypto_secretstream_xchacha20poly1305)")
struct SecretStreamTests {
    static let key: [UInt8] = Array(0x80..<0xA0)
    static let header: [UInt8] = Array(0x40..<0x58)
    // PyNaCl 1.6.2: init_pull(header, key), then push(b"first", tag 0), push(b"last", ad b"ad", tag 3).
    static let first = "6651c3c5fd7cc3010e69823c8210c826ca4494badf20"
    static let last = "0085579f70736e51c1a2cc0c48528a5ceafd21fd84"

    @Test("the constants agree with the linked libsodium")
    func constants() {
        #expect(SecretStream.headerByteCount == 24)
        #expect(SecretStream.abytes == 17)
        #expect(crypto_secretstream_xchacha20poly1305_tag_final() == SecretStream.Tag.final.rawValue)
    }

    @Test("a fixed key and header give PyNaCl's ciphertexts, which open in order with their tags")
    func knownAnswer() throws {
        let key = try SymmetricKey(bytes: Self.key)
        let sender = try SecretStream.Sender(key: key, header: Self.header)
        #expect(hex(sender.push(Array("first".utf8))) == Self.first)
        #expect(hex(sender.push(Array("last".utf8), tag: .final, associatedData: Array("ad".utf8))) == Self.last)
        let receiver = try SecretStream.Receiver(key: key, header: Self.header)
        let one = try receiver.pull(bytes(hex: Self.first))
        #expect(one.message == Array("first".utf8) && one.tag == .message)
        let two = try receiver.pull(bytes(hex: Self.last), associatedData: Array("ad".utf8))
        #expect(two.message == Array("last".utf8) && two.tag == .final)
    }

    @Test("a random header works; altered, replayed, reordered, short and foreign messages fail")
    func failures() throws {
        let key = SymmetricKey()
        let sender = SecretStream.Sender(key: key)
        let m1 = sender.push(Array("one".utf8))
        let m2 = sender.push(Array("two".utf8))
        func receiver() throws -> SecretStream.Receiver { try SecretStream.Receiver(key: key, header: sender.header) }
        var altered = m1
        altered[4] ^= 1
        #expect(throws: ConcordCryptoError.self) { try receiver().pull(altered) }
        let replay = try receiver()
        _ = try replay.pull(m1)
        #expect(throws: ConcordCryptoError.self) { try replay.pull(m1) }
        #expect(throws: ConcordCryptoError.self) { try receiver().pull(m2) }
        #expect(throws: ConcordCryptoError.self) { try receiver().pull(Array(m1.prefix(10))) }
        #expect(throws: ConcordCryptoError.self) { try SecretStream.Receiver(key: SymmetricKey(), header: sender.header).pull(m1) }
        #expect(throws: ConcordCryptoError.self) { try SecretStream.Receiver(key: key, header: [1, 2, 3]) }
        let ok = try receiver()
        #expect(try ok.pull(m1).message == Array("one".utf8))
        #expect(try ok.pull(m2).message == Array("two".utf8))
    }
}
