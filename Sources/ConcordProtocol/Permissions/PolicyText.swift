/// The text helpers of the permission model: byte order and JSON-style quoting.
/// Names are compared and sorted by their UTF-8 bytes, never by `String`'s Unicode-aware
/// `<` and `==` (`Specs/crdt-semantics.md` §1).
enum PolicyText {
    /// Orders strings by their UTF-8 bytes as unsigned bytes, shorter prefix first.
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Whether two strings have the same UTF-8 bytes (never Unicode equivalence), compared as
    /// contiguous buffers: the decision compares names on every op it decides.
    static func same(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var (a, b) = (a, b)
        return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
    }

    /// `text` in double quotes, with `"`, `\` and control characters escaped as JSON escapes
    /// them: for messages, and for every string of the normalized JSON (§3.4).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
