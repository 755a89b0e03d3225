#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif
import ConcordCrypto
import Testing

@Suite("Identity (Ed25519)")
struct IdentityTests {
    static let seed: [UInt8] = Array(0..<32)
    static let message = Array("Concord test message".utf8)
    // Computed independently with PyNaCl 1.6.2:
    // python3 -c "import nacl.signing as s; k=s.SigningKey(bytes(range(32)));
    //   print(k.verify_key.encode().hex()); print(k.sign(b'Concord test message').signature.hex())"
    static let expectedPublicKey = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    static let expectedSignature =
        "3e9706739a2d2f3c121db180a8da0da98ff772ce38950a0582d98ff3f4216782"
        + "5c18330a48d26803ef24ebb23eea08a0ee1af6bfa2b0153ebfa62ebff0ef9f0f"

    @Test("the constants this module hard-codes agree with the linked libsodium")
    func constants() {
        #expect(crypto_sign_publickeybytes() == PublicKey.byteCount)
        #expect(crypto_sign_bytes() == Signature.byteCount)
        #expect(crypto_sign_seedbytes() == Identity.seedByteCount)
    }

    @Test("a fixed seed gives PyNaCl's public key and signature")
    func knownAnswer() throws {
        let identity = try Identity(seed: Self.seed)
        #expect(identity.publicKey.hex == Self.expectedPublicKey)
        let signature = identity.sign(Self.message)
        #expect(signature.hex == Self.expectedSignature)
        #expect(identity.publicKey.isValidSignature(signature, for: Self.message))
        try identity.publicKey.verify(signature, for: Self.message)
        #expect(plain(identity.seed) == Self.seed)
    }

    @Test("a flipped bit in the message or the signature fails verification")
    func tampering() throws {
        let identity = try Identity(seed: Self.seed)
        let signature = identity.sign(Self.message)
        for bit in [0, 7, 77, Self.message.count * 8 - 1] {
            var altered = Self.message
            altered[bit / 8] ^= 1 << (bit % 8)
            #expect(!identity.publicKey.isValidSignature(signature, for: altered))
        }
        for bit in [0, 100, 511] {
            var altered = signature.bytes
            altered[bit / 8] ^= 1 << (bit % 8)
            #expect(!identity.publicKey.isValidSignature(try Signature(bytes: altered), for: Self.message))
        }
        expectCryptoError(.invalidSignature) { try identity.publicKey.verify(signature, for: Array("other".utf8)) }
        #expect(!Identity().publicKey.isValidSignature(signature, for: Self.message))
    }

    @Test("random identities differ and recreate from their seed")
    func randomAndSeedRoundTrip() throws {
        let first = Identity()
        let second = Identity()
        #expect(first.publicKey != second.publicKey)
        let restored = try Identity(seed: first.seed)
        #expect(restored.publicKey == first.publicKey)
        #expect(restored.sign([]) == first.sign([]))
        #expect(first.publicKey.isValidSignature(first.sign([UInt8]()), for: [UInt8]()))
        #expect(!"\(first)".contains(hex(plain(first.seed))))
    }

    @Test("wrong seed lengths throw invalidKeyLength")
    func invalidSeed() {
        for count in [0, 31, 33, 64] {
            expectCryptoError(.invalidKeyLength) { try Identity(seed: [UInt8](repeating: 0, count: count)) }
        }
    }

    @Test("public keys and signatures convert to and from hex and order by bytes")
    func valueTypes() throws {
        let key = try PublicKey(hex: Self.expectedPublicKey.uppercased())
        #expect(key.hex == Self.expectedPublicKey)
        #expect("\(key)" == Self.expectedPublicKey)
        #expect(try Signature(hex: Self.expectedSignature).hex == Self.expectedSignature)
        let low = try PublicKey(bytes: [UInt8](repeating: 0, count: 31) + [1])
        let high = try PublicKey(bytes: [1] + [UInt8](repeating: 0, count: 31))
        #expect(low < high)
        #expect([key, high, low].sorted() == [low, high, key])  // 00…01 < 01 00… < 03 a1…
        #expect(Set([key, key, low]).count == 2)
        expectCryptoError(.invalidEncoding) { try PublicKey(hex: "abc") }
        expectCryptoError(.invalidEncoding) { try PublicKey(hex: "zz") }
        expectCryptoError(.invalidKeyLength) { try PublicKey(hex: "abcd") }
        expectCryptoError(.invalidLength) { try Signature(bytes: [1]) }
    }

    @Test("an identity can sign concurrently from many tasks")
    func sendable() async throws {
        let identity = try Identity(seed: Self.seed)
        let signatures = await withTaskGroup(of: Signature.self) { group in
            for _ in 0..<8 {
                group.addTask { identity.sign(Self.message) }
            }
            return await group.reduce(into: [Signature]()) { $0.append($1) }
        }
        #expect(Set(signatures).count == 1)
        #expect(signatures.first?.hex == Self.expectedSignature)
    }
}
