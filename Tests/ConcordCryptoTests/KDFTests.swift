#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif
import ConcordCrypto
import Testing

@Suite("Key derivation (crypto_kdf)")
struct KDFTests {
    static let master = try! SymmetricKey(bytes: Array(0x20..<0x40) as [UInt8])

    // PyNaCl 1.6.2 has no crypto_kdf binding, so the expected values come from Python's
    // hashlib, following libsodium's documented construction for crypto_kdf_blake2b:
    // BLAKE2b(out=len, key=master, salt=LE64(id)||8 zero bytes, person=context||8 zero bytes).
    // python3 -c "import hashlib; print(hashlib.blake2b(b'', digest_size=32, key=bytes(range(0x20,0x40)),
    //   salt=(1).to_bytes(8,'little')+bytes(8), person=b'Concord_'+bytes(8)).hexdigest())"
    static let vectors: [(id: UInt64, context: String, length: Int, expected: String)] = [
        (1, "Concord_", 32, "0fffdf357b595ce567aaa80e1194254885d90f7d1b8a8de7b1b1e27587815595"),
        (42, "SpaceKey", 32, "434de6e07dbb2453bb9bc05eb3e68ee09c8f81e115c2d54d58074234260cb6eb"),
        (
            7, "Concord_", 64,
            "10252d702fc0273c1de56544104cd716a2c389465cb4ee502d914fe8b94d3af0"
                + "913057ed6486a969d31f0a4de9bd83f57c6186cee43b17afa9013bc3369ab371"
        ),
        (0, "Concord_", 16, "ba6c0e4a19717770a015a884d2f4cb2e"),
    ]

    @Test("derived subkeys match the independent hashlib computation")
    func knownAnswers() throws {
        #expect(crypto_kdf_keybytes() == SymmetricKey.byteCount)
        #expect(crypto_kdf_contextbytes() == KeyDerivation.contextByteCount)
        for vector in Self.vectors {
            let subkey = try KeyDerivation.derive(
                from: Self.master, id: vector.id, context: vector.context, length: vector.length)
            #expect(hex(plain(subkey)) == vector.expected, "id \(vector.id), context \(vector.context)")
        }
        let key = try KeyDerivation.deriveKey(from: Self.master, id: 1, context: "Concord_")
        #expect(hex(plain(key.secret)) == Self.vectors[0].expected)
    }

    @Test("different ids, contexts and master keys give different subkeys; the same inputs the same")
    func independence() throws {
        let base = try KeyDerivation.deriveKey(from: Self.master, id: 1, context: "Content_")
        let again = try KeyDerivation.deriveKey(from: Self.master, id: 1, context: "Content_")
        let otherID = try KeyDerivation.deriveKey(from: Self.master, id: 2, context: "Content_")
        let otherContext = try KeyDerivation.deriveKey(from: Self.master, id: 1, context: "Content2")
        let otherMaster = try KeyDerivation.deriveKey(from: SymmetricKey(), id: 1, context: "Content_")
        #expect(base.isEqual(to: again))
        #expect(!base.isEqual(to: otherID))
        #expect(!base.isEqual(to: otherContext))
        #expect(!base.isEqual(to: otherMaster))
        #expect(!base.isEqual(to: Self.master))
    }

    @Test("a derived key encrypts and decrypts")
    func derivedKeyWorks() throws {
        let contentKey = try KeyDerivation.deriveKey(from: Self.master, id: 1, context: "Content_")
        let box = XChaCha20Poly1305.seal(Array("payload".utf8), using: contentKey)
        let sameKey = try KeyDerivation.deriveKey(from: Self.master, id: 1, context: "Content_")
        #expect(try XChaCha20Poly1305.open(box, using: sameKey) == Array("payload".utf8))
    }

    @Test("invalid contexts and lengths throw typed errors")
    func invalidInputs() {
        for context in ["", "short", "ninechars", "Contént_"] {
            expectCryptoError(.invalidContext) {
                try KeyDerivation.derive(from: Self.master, id: 1, context: context, length: 32)
            }
        }
        for length in [0, 15, 65] {
            expectCryptoError(.invalidLength) {
                try KeyDerivation.derive(from: Self.master, id: 1, context: "Concord_", length: length)
            }
        }
    }
}
