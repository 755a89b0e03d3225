/// Lowercase hexadecimal encoding used by the public value types' `hex` properties.
///
/// Not constant time: use it for public values (keys, signatures, digests), never for
/// secrets.
package enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Encodes `bytes` as lowercase hexadecimal, two characters per byte.
    ///
    /// - Complexity: O(n) in the number of bytes.
    package static func encode(_ bytes: some Collection<UInt8>) -> String {
        var characters: [UInt8] = []
        characters.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Decodes hexadecimal text (either case, no separators) into bytes.
    ///
    /// - Parameters:
    ///   - text: The hexadecimal string.
    ///   - what: A name for the value, used in the error message (for example "public key").
    /// - Throws: ``ConcordCryptoError`` with code `.invalidEncoding` when `text` has an odd
    ///   length or a character outside `0-9a-fA-F`.
    static func decode(_ text: String, what: String) throws -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count.isMultiple(of: 2) else {
            throw ConcordCryptoError(
                .invalidEncoding,
                "The \(what) hex string has an odd number of characters (\(utf8.count)); check that it was copied completely."
            )
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(of: utf8[index]), let low = value(of: utf8[index + 1]) else {
                throw ConcordCryptoError(
                    .invalidEncoding,
                    "The \(what) hex string contains a character that is not 0-9, a-f or A-F at offset \(index)."
                )
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(of character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
