#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif
import ConcordCrypto
import ConcordTesting
import Testing

@Suite("BLAKE2b")
struct Blake2bTests {
    // Published vector: BLAKE2b-256("").
    static let emptyDigest = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
    // python3 -c "import hashlib;print(hashlib.blake2b(b'abc',digest_size=32).hexdigest())"
    static let abcDigest = "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"

    @Test("libsodium itself (raw CSodium) matches the published BLAKE2b-256 vectors")
    func rawLibsodiumKnownAnswers() {
        #expect(sodium_init() >= 0)
        func rawHash(_ input: [UInt8]) -> String {
            var output = [UInt8](repeating: 0, count: 32)
            let status = input.withUnsafeBufferPointer { inputPointer in
                crypto_generichash(&output, 32, inputPointer.baseAddress, UInt64(input.count), nil, 0)
            }
            #expect(status == 0)
            return hex(output)
        }
        #expect(rawHash([]) == Self.emptyDigest)
        #expect(rawHash(Array("abc".utf8)) == Self.abcDigest)
        // The constants this module hard-codes agree with the linked libsodium.
        #expect(crypto_generichash_bytes_min() == 16)
        #expect(crypto_generichash_bytes_max() == 64)
        #expect(crypto_generichash_keybytes_max() == 64)
    }

    @Test("one-shot BLAKE2b-256 matches the vectors")
    func oneShot() throws {
        #expect(Blake2b.hash([UInt8]()).hex == Self.emptyDigest)
        #expect(Blake2b.hash(Array("abc".utf8)).hex == Self.abcDigest)
        #expect(Blake2b.hash("abc".utf8).hex == Self.abcDigest)  // non-array collection
        #expect(try Digest32(hex: Self.abcDigest) == Blake2b.hash(Array("abc".utf8)))
    }

    @Test("variable output length and keyed hashing match Python hashlib")
    func lengthsAndKey() throws {
        let fox = Array("The quick brown fox jumps over the lazy dog".utf8)
        // hashlib.blake2b(fox, digest_size=16).hexdigest()
        #expect(hex(try Blake2b.hash(fox, outputLength: 16)) == "249df9a49f517ddcd37f5c897620ec73")
        // hashlib.blake2b(fox, digest_size=64, key=bytes(range(32))).hexdigest()
        let key = SecretBytes(Array(0..<32) as [UInt8])
        #expect(
            hex(try Blake2b.hash(fox, outputLength: 64, key: key))
                == "a44a52374dc66f94c213e25b2ee5b055c8aae43f17d975726c2452f5c2516504"
                + "db62be4ccf58525f5dfc6819001a7c9a74400cc53897744e72407642f71e2bee")
        var hasher = try Blake2b(outputLength: 64, key: key)
        hasher.update(fox[..<10])
        hasher.update(fox[10...])
        #expect(hasher.finalize() == (try Blake2b.hash(fox, outputLength: 64, key: key)))
    }

    @Test("invalid output and key lengths throw typed errors")
    func invalidLengths() {
        for length in [0, 15, 65] {
            expectCryptoError(.invalidLength) { try Blake2b.hash([1, 2, 3], outputLength: length) }
        }
        expectCryptoError(.invalidKeyLength) { try Blake2b(outputLength: 32, key: SecretBytes([UInt8](repeating: 1, count: 8))) }
        #expect(throws: ConcordCryptoError.self) { try Digest32(bytes: [1, 2, 3]) }
    }

    @Test("incremental hashing equals one-shot for random chunkings")
    func incrementalEqualsOneShot() throws {
        let seed = UInt64.random(in: .min ... .max)
        print("Blake2bTests.incrementalEqualsOneShot seed: \(seed)")
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<50 {
            let count = Int.random(in: 0...5000, using: &generator)
            let input = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let length = Int.random(in: Blake2b.outputLengthRange, using: &generator)
            var hasher = try Blake2b(outputLength: length)
            var offset = 0
            while offset < count {
                let chunk = Int.random(in: 0...min(700, count - offset), using: &generator)
                hasher.update(input[offset..<offset + chunk])
                offset += chunk
            }
            #expect(hasher.finalize() == (try Blake2b.hash(input, outputLength: length)), "seed \(seed)")
        }
    }

    @Test("a copied hasher is independent (copy-on-write) and finalize does not consume")
    func valueSemantics() throws {
        var first = Blake2b()
        first.update(Array("ab".utf8))
        var second = first
        second.update(Array("c".utf8))
        #expect(second.finalize() == Blake2b.hash(Array("abc".utf8)).bytes)
        #expect(first.finalize() == Blake2b.hash(Array("ab".utf8)).bytes)
        first.update(Array("c".utf8))
        #expect(first.finalize() == second.finalize())
    }
}
