/// RFC 4648 base32 (alphabet `a`–`z`, `2`–`7`), lowercase, without padding.
///
/// Used for invite tokens: the alphabet has no `0`, `1`, `8` or `9`, survives
/// copy-paste, mail and chat, and is case-insensitive when read.
enum Base32 {
    /// Why decoding failed.
    enum DecodingError: Error, Equatable {
        /// The character at `index` (0-based, in characters of the input) is outside the alphabet.
        case invalidCharacter(index: Int, character: Character)
        /// The length leaves 1, 3 or 6 characters in the last group, which no byte string encodes.
        case invalidLength
        /// The last character carries non-zero bits beyond the encoded bytes.
        case nonZeroTrailingBits
    }

    private static let alphabet: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// Encodes `bytes` as lowercase base32 without padding.
    /// - Complexity: O(n).
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1F)])
            }
        }
        if bits > 0 {
            out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base32 without padding; upper- and lowercase letters are accepted.
    /// - Throws: ``DecodingError``.
    /// - Complexity: O(n).
    static func decode(_ text: some StringProtocol) throws(DecodingError) -> [UInt8] {
        var out = [UInt8]()
        var buffer: UInt32 = 0
        var bits = 0
        var count = 0
        for (index, character) in text.enumerated() {
            guard let value = value(of: character) else {
                throw .invalidCharacter(index: index, character: character)
            }
            buffer = (buffer << 5 | UInt32(value)) & 0xFFFF
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
            count += 1
        }
        guard ![1, 3, 6].contains(count % 8) else { throw .invalidLength }
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { throw .nonZeroTrailingBits }
        return out
    }

    private static func value(of character: Character) -> UInt8? {
        guard let ascii = character.asciiValue else { return nil }
        switch ascii {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return ascii - UInt8(ascii: "a")
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return ascii - UInt8(ascii: "A")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): return ascii - UInt8(ascii: "2") + 26
        default: return nil
        }
    }
}
