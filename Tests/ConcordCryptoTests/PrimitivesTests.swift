import ConcordCrypto
import Testing

@Suite("Random bytes, constant-time comparison, secrets, errors")
struct PrimitivesTests {
    @Test("random bytes have the requested length and differ between calls")
    func randomBytes() {
        #expect(SecureRandom.bytes(count: 0).isEmpty)
        let first = SecureRandom.bytes(count: 32)
        let second = SecureRandom.bytes(count: 32)
        #expect(first.count == 32)
        #expect(first != second)
        #expect(SecretBytes.random(count: 48).count == 48)
        #expect(!SecretBytes.random(count: 32).isEqual(to: SecretBytes.random(count: 32)))
    }

    @Test("constant-time comparison")
    func constantTime() {
        let value = SecureRandom.bytes(count: 64)
        var altered = value
        altered[63] ^= 1
        #expect(ConstantTime.isEqual(value, value))
        #expect(ConstantTime.isEqual(value[...], value))
        #expect(!ConstantTime.isEqual(value, altered))
        #expect(!ConstantTime.isEqual(value, value.dropLast()))
        #expect(ConstantTime.isEqual([UInt8](), [UInt8]()))
    }

    @Test("secret bytes keep their contents and never print them")
    func secretBytes() {
        let secret = SecretBytes([1, 2, 3, 4])
        #expect(plain(secret) == [1, 2, 3, 4])
        #expect(secret.isEqual(to: SecretBytes([1, 2, 3, 4])))
        #expect(!secret.isEqual(to: SecretBytes([1, 2, 3, 5])))
        #expect(!secret.isEqual(to: SecretBytes([1, 2, 3])))
        #expect("\(secret)" == "SecretBytes(4 bytes, redacted)")
        #expect(String(reflecting: secret) == "SecretBytes(4 bytes, redacted)")
        #expect(SecretBytes([UInt8]()).count == 0)
    }

    @Test("errors compare by code and message and describe both")
    func errors() {
        let error = ConcordCryptoError(.decryptionFailed, "Fetch it again.")
        #expect(error == ConcordCryptoError(.decryptionFailed, "Fetch it again."))
        #expect(error != ConcordCryptoError(.invalidSignature, "Fetch it again."))
        #expect(error.description == "decryptionFailed: Fetch it again.")
        #expect(ConcordCryptoError.Code.keyFileNotFound != .invalidKeyFile)
    }
}
