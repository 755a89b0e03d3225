/// A string that compares, hashes and sorts by its UTF-8 bytes.
///
/// Swift's `String` treats canonically equivalent strings as equal (`"é"` precomposed
/// equals `"e\u{301}"`), which would let two replicas store different bytes under "the
/// same" key depending on arrival order. Names and string values inside the CRDT state
/// therefore use byte semantics: no Unicode normalization is applied, ever.
/// See `Specs/crdt-semantics.md`.
///
/// The UTF-8 length and the first 16 bytes are kept as integers, so most comparisons and
/// hashes (names are usually short) never touch the string itself.
package struct ByteString: Hashable, Comparable, Sendable, CustomStringConvertible {
    package let string: String
    package let count: Int
    package let head0: UInt64
    package let head1: UInt64

    package init(_ string: String) {
        self.string = string
        var head: (UInt64, UInt64) = (0, 0)
        let utf8 = string.utf8
        let n = utf8.count
        let copied: Void? = utf8.withContiguousStorageIfAvailable { buffer in
            withUnsafeMutableBytes(of: &head) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<min(16, n)])) }
        }
        if copied == nil {
            withUnsafeMutableBytes(of: &head) { out in
                for (i, byte) in utf8.prefix(16).enumerated() { out[i] = byte }
            }
        }
        count = n
        (head0, head1) = head
    }

    package static func == (lhs: ByteString, rhs: ByteString) -> Bool {
        guard lhs.count == rhs.count, lhs.head0 == rhs.head0, lhs.head1 == rhs.head1 else { return false }
        return lhs.count <= 16 || bytesEqual(lhs.string, rhs.string)
    }

    /// Consistent with `==`: equal byte strings have equal lengths, heads and strings.
    package func hash(into hasher: inout Hasher) {
        hasher.combine(head0 ^ (head1 &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(truncatingIfNeeded: count))
        if count > 16 { hasher.combine(string) }
    }

    /// Byte-exact string equality, comparing contiguous UTF-8 buffers when available.
    package static func bytesEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (a.utf8, b.utf8)
        guard x.count == y.count else { return false }
        let fast = x.withContiguousStorageIfAvailable { px in
            y.withContiguousStorageIfAvailable { py in px.elementsEqual(py) }
        }
        if let fast, let result = fast { return result }
        return x.elementsEqual(y)
    }

    /// Lexicographic order of the UTF-8 bytes (a proper prefix sorts first).
    package static func < (lhs: ByteString, rhs: ByteString) -> Bool {
        // The heads hold bytes little-endian and zero-padded; byte-swapped they compare as bytes.
        if lhs.head0 != rhs.head0 { return lhs.head0.byteSwapped < rhs.head0.byteSwapped }
        if lhs.head1 != rhs.head1 { return lhs.head1.byteSwapped < rhs.head1.byteSwapped }
        if lhs.count <= 16 || rhs.count <= 16 { return lhs.count < rhs.count }
        return lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    package var description: String { string }
}
