import ConcordCrypto
import Testing

@Suite("Sealed boxes to Ed25519 keys (crypto_box_seal)")
struct SealedBoxTests {
    static let message: [UInt8] = (0..<32).map { UInt8($0 &* 7 &+ 3) }

    @Test("a 32-byte key seals to an 80-byte box that only its recipient opens")
    func roundTrip() throws {
        let device = try Identity(seed: [UInt8](repeating: 0x21, count: 32))
        let box = try SealedBox.seal(Self.message, to: device.publicKey)
        #expect(box.count == 80)
        #expect(plain(try device.openSealedBox(box)) == Self.message)
        // Randomized: a second seal of the same message differs, and opens alike.
        let again = try SealedBox.seal(Self.message, to: device.publicKey)
        #expect(again != box)
        #expect(plain(try device.openSealedBox(again)) == Self.message)
    }

    @Test("another identity cannot open the box")
    func otherIdentity() throws {
        let device = Identity(), other = Identity()
        let box = try SealedBox.seal(Self.message, to: device.publicKey)
        expectCryptoError(.decryptionFailed) { try other.openSealedBox(box) }
    }

    @Test("every flipped bit of the box fails to open")
    func tampered() throws {
        let device = Identity()
        let box = try SealedBox.seal(Self.message, to: device.publicKey)
        for index in box.indices {
            for bit in [0, 7] {
                var altered = box
                altered[index] ^= UInt8(1 << bit)
                #expect(throws: ConcordCryptoError.self) { try device.openSealedBox(altered) }
            }
        }
        expectCryptoError(.decryptionFailed) { try device.openSealedBox(box.dropLast()) }
        expectCryptoError(.invalidLength) { try device.openSealedBox(box.prefix(47)) }
    }

    @Test("an empty message seals to 48 bytes and opens to nothing")
    func emptyMessage() throws {
        let device = Identity()
        let box = try SealedBox.seal([UInt8](), to: device.publicKey)
        #expect(box.count == SealedBox.overheadByteCount)
        #expect(try device.openSealedBox(box).count == 0)
    }

    @Test("a key that is not a valid curve point is a typed error")
    func invalidPoint() throws {
        for bytes in [[UInt8](repeating: 0xff, count: 32), [1] + [UInt8](repeating: 0, count: 31), [UInt8](repeating: 0, count: 32)] {
            let key = try PublicKey(bytes: bytes)
            let error = expectCryptoError(.invalidPublicKey) { try SealedBox.seal(Self.message, to: key) }
            #expect(error?.message.contains(key.hex) == true)
        }
    }
}
