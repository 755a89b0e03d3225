import Testing
import ConcordCrypto

/// Decodes hex in test vectors; traps on malformed input (a bug in the test itself).
func bytes(hex: String) -> [UInt8] {
    let utf8 = Array(hex.utf8)
    precondition(utf8.count.isMultiple(of: 2), "odd-length hex in test vector")
    return stride(from: 0, to: utf8.count, by: 2).map { index in
        UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16)!
    }
}

/// Lowercase hex of `bytes`, for comparing against vectors.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }.joined()
}

/// The bytes of a SecretBytes, copied out for assertions (tests only).
func plain(_ secret: SecretBytes) -> [UInt8] {
    secret.withUnsafeBytes { Array($0) }
}

/// Expects `body` to throw a ``ConcordCryptoError`` with `code`; returns the error for further checks.
@discardableResult
func expectCryptoError<R>(
    _ code: ConcordCryptoError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> R
) -> ConcordCryptoError? {
    let error = #expect(throws: ConcordCryptoError.self, sourceLocation: sourceLocation) {
        _ = try body()
    }
    #expect(error?.code == code, sourceLocation: sourceLocation)
    return error
}
