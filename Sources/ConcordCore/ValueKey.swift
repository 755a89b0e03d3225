/// A ``Value`` prepared for use as a dictionary key: its kind, length and first 16 bytes
/// of payload are kept as integers, so hashing and most comparisons never walk a string.
/// Equality is exactly ``Value``'s equality.
struct ValueKey: Hashable, Sendable {
    let value: Value
    /// rank | length << 8 (length of string/bytes payloads; 0 otherwise).
    private let kind: UInt64
    private let head0: UInt64
    private let head1: UInt64
    /// Whether two keys with equal integers may still differ (payload longer than 16 bytes, references).
    private let needsFullCompare: Bool

    init(_ value: Value) {
        self.value = value
        var head: (UInt64, UInt64) = (0, 0)
        var length = 0
        switch value {
        case .null: break
        case .bool(let b): head.0 = b ? 1 : 0
        case .int(let i): head.0 = UInt64(bitPattern: i)
        case .double(let d): head.0 = d.bitPattern
        case .string(let s):
            let key = ByteString(s)
            (length, head) = (key.count, (key.head0, key.head1))
        case .bytes(let b):
            length = b.count
            withUnsafeMutableBytes(of: &head) { out in
                for (i, byte) in b.prefix(16).enumerated() { out[i] = byte }
            }
        case .reference(let r):
            head = (r.id.high, r.id.low)
            length = r.collection.utf8.count
        }
        kind = UInt64(value.rank) | UInt64(length) << 8
        head0 = head.0
        head1 = head.1
        switch value {
        case .string, .bytes: needsFullCompare = length > 16
        case .reference: needsFullCompare = true
        default: needsFullCompare = false
        }
    }

    static func == (lhs: ValueKey, rhs: ValueKey) -> Bool {
        guard lhs.kind == rhs.kind, lhs.head0 == rhs.head0, lhs.head1 == rhs.head1 else { return false }
        return !lhs.needsFullCompare || lhs.value == rhs.value
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(kind ^ (head0 &* 0x9E37_79B9_7F4A_7C15) ^ (head1 &* 0xC2B2_AE3D_27D4_EB4F))
        if needsFullCompare { hasher.combine(value) }
    }
}
