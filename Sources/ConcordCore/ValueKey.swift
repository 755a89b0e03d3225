/// A ``Value`` prepared for use as a key: its kind, length and first 16 bytes of payload
/// are kept as integers, so most comparisons never walk a string, and its hash is computed
/// once. Equality is exactly ``Value``'s equality; ``precedes(_:)`` is exactly its order.
struct ValueKey: Hashable, Sendable {
    let value: Value
    /// rank | length << 8 (length of string/bytes payloads and reference collection names; 0 otherwise).
    private let kind: UInt64
    /// The first 16 payload bytes, little-endian and zero-padded (strings and bytes); the
    /// bits of a bool, int or double; a reference's id.
    private let head0: UInt64
    private let head1: UInt64
    /// A 64-bit hash, consistent with `==`, seeded per process (``ValueKey/seed``) so
    /// colliding values cannot be prepared in advance.
    let hashCode: UInt64
    /// Whether two keys with equal integers may still differ (payload longer than 16 bytes, references).
    private let needsFullCompare: Bool

    init(_ value: Value) {
        self.value = value
        var head: (UInt64, UInt64) = (0, 0)
        var length = 0
        var tail: UInt64 = 0  // hash of what the heads do not hold
        switch value {
        case .null: break
        case .bool(let b): head.0 = b ? 1 : 0
        case .int(let i): head.0 = UInt64(bitPattern: i)
        case .double(let d): head.0 = d.bitPattern
        case .string(let s):
            var s = s
            (length, head, tail) = s.withUTF8 { Self.digest(UnsafeRawBufferPointer($0)) }
        case .bytes(let b):
            (length, head, tail) = b.withUnsafeBytes { Self.digest($0) }
        case .reference(let r):
            var name = r.collection
            let (count, nameHead, nameTail) = name.withUTF8 { Self.digest(UnsafeRawBufferPointer($0)) }
            length = count
            tail = Self.mix(nameHead.0 ^ Self.seed.2, nameHead.1 ^ nameTail)
            head = (r.id.high, r.id.low)
        }
        kind = UInt64(value.rank) | UInt64(length) << 8
        head0 = head.0
        head1 = head.1
        hashCode = Self.mix(Self.mix(head.0 ^ Self.seed.0, head.1 ^ Self.seed.1), kind ^ tail ^ Self.seed.2)
        switch value {
        case .string, .bytes: needsFullCompare = length > 16
        case .reference: needsFullCompare = true
        default: needsFullCompare = false
        }
    }

    /// The integers equality compares first: kind and length, and the first 16 payload bytes.
    /// Two keys with equal words are equal unless ``needsFullCompare`` is set on them.
    var words: (kind: UInt64, head0: UInt64, head1: UInt64) { (kind, head0, head1) }

    /// Whether two keys with equal ``words`` may still differ.
    var isLong: Bool { needsFullCompare }

    static func == (lhs: ValueKey, rhs: ValueKey) -> Bool {
        guard lhs.kind == rhs.kind, lhs.head0 == rhs.head0, lhs.head1 == rhs.head1 else { return false }
        return !lhs.needsFullCompare || lhs.value == rhs.value
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(hashCode)
    }

    /// ``Value``'s total order (`Specs/crdt-semantics.md` section 1), deciding from the
    /// integers when it can.
    func precedes(_ other: ValueKey) -> Bool {
        let (rank, otherRank) = (kind & 0xFF, other.kind & 0xFF)
        if rank != otherRank { return rank < otherRank }
        switch value {
        case .int:
            return Int64(bitPattern: head0) < Int64(bitPattern: other.head0)
        case .string, .bytes:
            // Heads hold the first bytes little-endian, zero-padded: byte-swapped they
            // compare as bytes. Equal heads decide by length unless both run past them.
            if head0 != other.head0 { return head0.byteSwapped < other.head0.byteSwapped }
            if head1 != other.head1 { return head1.byteSwapped < other.head1.byteSwapped }
            let (length, otherLength) = (kind >> 8, other.kind >> 8)
            if length <= 16 || otherLength <= 16 { return length < otherLength }
            return value < other.value
        default:
            return value < other.value
        }
    }

    /// Per-process random seed of ``hashCode``.
    private static let seed: (UInt64, UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next(), generator.next())
    }()

    /// Multiplies to 128 bits and folds the halves (the mixing step of wyhash).
    @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// The length, first 16 bytes (little-endian words, zero-padded) and a hash of the
    /// bytes after them (0 when there are none) of a byte string.
    @inline(__always)
    private static func digest(_ bytes: UnsafeRawBufferPointer) -> (Int, (UInt64, UInt64), UInt64) {
        let n = bytes.count
        var head: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &head) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<min(16, n)])) }
        guard n > 16 else { return (n, head, 0) }
        var tail = seed.1
        var i = 16
        while i < n {
            var word: UInt64 = 0
            withUnsafeMutableBytes(of: &word) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[i..<min(i + 8, n)])) }
            tail = mix(tail ^ word, seed.2 ^ 0x9E37_79B9_7F4A_7C15)
            i += 8
        }
        return (n, head, tail)
    }
}
