#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif
import ConcordCrypto
import Testing

@Suite("XChaCha20-Poly1305")
struct AEADTests {
    static let key: [UInt8] = Array(0x80..<0xA0)
    static let nonce: [UInt8] = Array(0x40..<0x58)
    static let associatedData = Array("concord-ad".utf8)
    static let plaintext = Array("Offline-first, conflict-free.".utf8)
    // Computed with PyNaCl 1.6.2:
    // python3 -c "import nacl.bindings as b; print(b.crypto_aead_xchacha20poly1305_ietf_encrypt(
    //   b'Offline-first, conflict-free.', b'concord-ad', bytes(range(0x40,0x58)), bytes(range(0x80,0xa0))).hex())"
    static let expectedCiphertext =
        "be6a1598329e91779d7b05a08282bd365d2914026c27e8c1acc890696cf09170b12f5e98401001b2a34fb3940d"

    @Test("the constants this module hard-codes agree with the linked libsodium")
    func constants() {
        #expect(crypto_aead_xchacha20poly1305_ietf_keybytes() == XChaCha20Poly1305.keyByteCount)
        #expect(crypto_aead_xchacha20poly1305_ietf_npubbytes() == XChaCha20Poly1305.nonceByteCount)
        #expect(crypto_aead_xchacha20poly1305_ietf_abytes() == XChaCha20Poly1305.tagByteCount)
    }

    @Test("a fixed key and nonce give PyNaCl's ciphertext, which opens again")
    func knownAnswer() throws {
        let key = try SymmetricKey(bytes: Self.key)
        let box = XChaCha20Poly1305.seal(
            Self.plaintext, using: key, nonce: try .init(bytes: Self.nonce), authenticating: Self.associatedData)
        #expect(hex(box.ciphertext) == Self.expectedCiphertext)
        #expect(box.combined == Self.nonce + bytes(hex: Self.expectedCiphertext))
        let parsed = try XChaCha20Poly1305.SealedBox(combined: box.combined)
        #expect(parsed == box)
        #expect(try XChaCha20Poly1305.open(parsed, using: key, authenticating: Self.associatedData) == Self.plaintext)
    }

    @Test("random nonces: round trip, fresh nonce each time, empty plaintext and no associated data")
    func roundTrip() throws {
        let key = SymmetricKey()
        let first = XChaCha20Poly1305.seal(Self.plaintext, using: key)
        let second = XChaCha20Poly1305.seal(Self.plaintext, using: key)
        #expect(first.nonce != second.nonce)
        #expect(first.ciphertext != second.ciphertext)
        #expect(try XChaCha20Poly1305.open(first, using: key) == Self.plaintext)
        let empty = XChaCha20Poly1305.seal([UInt8](), using: key, authenticating: Self.associatedData)
        #expect(empty.ciphertext.count == XChaCha20Poly1305.tagByteCount)
        #expect(try XChaCha20Poly1305.open(empty, using: key, authenticating: Self.associatedData) == [])
    }

    @Test("altered ciphertext, tag or nonce, wrong associated data or wrong key throw decryptionFailed")
    func tampering() throws {
        let key = try SymmetricKey(bytes: Self.key)
        let box = XChaCha20Poly1305.seal(Self.plaintext, using: key, authenticating: Self.associatedData)
        for index in [0, box.ciphertext.count / 2, box.ciphertext.count - 1] {
            var altered = box.ciphertext
            altered[index] ^= 0x01
            let tampered = try XChaCha20Poly1305.SealedBox(nonce: box.nonce, ciphertext: altered)
            expectCryptoError(.decryptionFailed) {
                try XChaCha20Poly1305.open(tampered, using: key, authenticating: Self.associatedData)
            }
        }
        var nonce = box.nonce.bytes
        nonce[0] ^= 0x80
        let wrongNonce = try XChaCha20Poly1305.SealedBox(nonce: .init(bytes: nonce), ciphertext: box.ciphertext)
        expectCryptoError(.decryptionFailed) {
            try XChaCha20Poly1305.open(wrongNonce, using: key, authenticating: Self.associatedData)
        }
        expectCryptoError(.decryptionFailed) {
            try XChaCha20Poly1305.open(box, using: key, authenticating: Array("other-ad".utf8))
        }
        expectCryptoError(.decryptionFailed) { try XChaCha20Poly1305.open(box, using: key) }
        let error = expectCryptoError(.decryptionFailed) {
            try XChaCha20Poly1305.open(box, using: SymmetricKey(), authenticating: Self.associatedData)
        }
        #expect(error?.message.contains("-1") == false)  // never a raw libsodium return code
    }

    @Test("malformed sizes throw invalidLength or invalidKeyLength")
    func sizes() {
        expectCryptoError(.invalidLength) { try XChaCha20Poly1305.SealedBox(combined: [UInt8](repeating: 0, count: 39)) }
        expectCryptoError(.invalidLength) { try XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: 0, count: 12)) }
        expectCryptoError(.invalidKeyLength) { try SymmetricKey(bytes: [UInt8](repeating: 0, count: 16)) }
        #expect("\(SymmetricKey())" == "SymmetricKey(redacted)")
    }
}
