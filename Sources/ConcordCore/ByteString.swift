/// A string that compares, hashes and sorts by its UTF-8 bytes.
///
/// Swift's `String` treats canonically equivalent strings as equal (`"é"` precomposed
/// equals `"e\u{301}"`), which would let two replicas store different bytes under "the
/// same" key depending on arrival order. Names and string values inside the CRDT state
/// therefore use byte semantics: no Unicode normalization is applied, ever.
/// See `Specs/crdt-semantics.md`.
struct ByteString: Hashable, Comparable, Sendable, CustomStringConvertible {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: ByteString, rhs: ByteString) -> Bool {
        let (a, b) = (lhs.string.utf8, rhs.string.utf8)
        return a.count == b.count && a.elementsEqual(b)
    }

    /// String's own hash is coarser than byte equality (canonically equivalent strings
    /// hash alike) but consistent with it, and fast.
    func hash(into hasher: inout Hasher) {
        hasher.combine(string)
    }

    static func < (lhs: ByteString, rhs: ByteString) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    var description: String { string }
}
