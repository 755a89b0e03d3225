/// A strict RFC 8259 reader for policy files (`Specs/permissions.md` §3.4).
///
/// It keeps what a general JSON library loses: object members in order, duplicate keys
/// (compared by their UTF-8 bytes, so `"é"` precomposed and decomposed are two keys),
/// numbers as their text (so `1`, `1.0` and `true` differ) and strings as written, never
/// normalized. It refuses byte order marks, lone surrogate escapes (`"\ud800"`), control
/// characters in strings, trailing data, and nesting deeper than ``maxDepth``.
enum PolicyJSON: Sendable {
    case object([(key: String, value: PolicyJSON)])
    case array([PolicyJSON])
    case string(String)
    /// A number, as its text.
    case number(String)
    case bool(Bool)
    case null

    /// Deeper nesting than any policy uses (it has five levels) is refused before recursing.
    static let maxDepth = 32

    /// Parses one JSON value.
    /// - Parameters:
    ///   - bytes: UTF-8 text.
    /// - Throws: ``ConcordError`` `.invalidPolicy` naming the byte offset.
    static func parse(_ bytes: [UInt8]) throws(ConcordError) -> PolicyJSON {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw parser.error("data after the JSON value") }
        return value
    }

    /// A short name of the value's JSON type, for messages.
    var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "a list"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var offset = 0

        func error(_ what: String) -> ConcordError {
            ConcordError(.invalidPolicy, "policy: not valid JSON: \(what) at byte \(offset); check the file with a JSON validator")
        }

        mutating func skipSpace() {
            while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(ConcordError) {
            guard offset < bytes.count, bytes[offset] == byte else { throw error("expected \"\(Character(Unicode.Scalar(byte)))\"") }
            offset += 1
        }

        func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func value(depth: Int) throws(ConcordError) -> PolicyJSON {
            guard depth < PolicyJSON.maxDepth else { throw error("nesting deeper than \(PolicyJSON.maxDepth) levels") }
            guard let byte = peek() else { throw error("unexpected end of data") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character")
            }
        }

        mutating func literal(_ word: String) throws(ConcordError) {
            for byte in word.utf8 { try expect(byte) }
        }

        mutating func object(depth: Int) throws(ConcordError) -> PolicyJSON {
            try expect(UInt8(ascii: "{"))
            var members: [(key: String, value: PolicyJSON)] = []
            var keys = Set<[UInt8]>()
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipSpace()
                let start = offset
                guard peek() == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
                let key = try string()
                guard keys.insert(Array(key.utf8)).inserted else {
                    offset = start
                    throw error("duplicate key \(PolicyText.quoted(key))")
                }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                if peek() == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(ConcordError) -> PolicyJSON {
            try expect(UInt8(ascii: "["))
            var elements: [PolicyJSON] = []
            skipSpace()
            if peek() == UInt8(ascii: "]") {
                offset += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                if peek() == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(elements)
            }
        }

        /// The number's text, checked against the RFC 8259 grammar.
        mutating func number() throws(ConcordError) -> String {
            let start = offset
            func digits(_ parser: inout Parser) -> Int {
                var n = 0
                while let b = parser.peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) {
                    parser.offset += 1
                    n += 1
                }
                return n
            }
            if peek() == UInt8(ascii: "-") { offset += 1 }
            if peek() == UInt8(ascii: "0") {
                offset += 1
            } else if digits(&self) == 0 {
                throw error("a number without digits")
            }
            if peek() == UInt8(ascii: ".") {
                offset += 1
                guard digits(&self) > 0 else { throw error("a number without digits after \".\"") }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                offset += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { offset += 1 }
                guard digits(&self) > 0 else { throw error("a number without exponent digits") }
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }

        mutating func string() throws(ConcordError) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard let byte = peek() else { throw error("a string without its closing quote") }
                switch byte {
                case UInt8(ascii: "\""):
                    offset += 1
                    guard let text = String(validating: out, as: UTF8.self) else { throw error("a string that is not valid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    offset += 1
                    try escape(into: &out)
                case ..<0x20:
                    throw error("a control character in a string (write it as an escape)")
                default:
                    out.append(byte)
                    offset += 1
                }
            }
        }

        mutating func escape(into out: inout [UInt8]) throws(ConcordError) {
            guard let byte = peek() else { throw error("a string without its closing quote") }
            offset += 1
            let simple: [UInt8: UInt8] = [
                UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F, UInt8(ascii: "b"): 0x08,
                UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
            ]
            if let plain = simple[byte] {
                out.append(plain)
                return
            }
            guard byte == UInt8(ascii: "u") else { throw error("an unknown escape") }
            var value = try hex4()
            if (0xD800..<0xDC00).contains(value) {
                guard peek() == UInt8(ascii: "\\") else { throw error("a lone surrogate escape (not a character)") }
                offset += 1
                guard peek() == UInt8(ascii: "u") else { throw error("a lone surrogate escape (not a character)") }
                offset += 1
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw error("a lone surrogate escape (not a character)") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(value) {
                throw error("a lone surrogate escape (not a character)")
            }
            // Not a surrogate, or a combined pair: always a scalar.
            out.append(contentsOf: String(Character(Unicode.Scalar(value)!)).utf8)
        }

        mutating func hex4() throws(ConcordError) -> UInt32 {
            guard offset + 4 <= bytes.count,
                let value = UInt32(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16),
                bytes[offset..<offset + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
            else { throw error("\\u without four hexadecimal digits") }
            offset += 4
            return value
        }
    }
}
