/// The identity of one replica: 32 bytes, in practice the replica's Ed25519 public key.
///
/// Replica ids order lexicographically by their bytes; that order breaks ties between
/// equal hybrid logical clock readings. Stored as four big-endian words so comparison
/// and hashing are cheap.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    @usableFromInline var w0: UInt64
    @usableFromInline var w1: UInt64
    @usableFromInline var w2: UInt64
    @usableFromInline var w3: UInt64

    /// Creates a replica id from exactly 32 bytes.
    /// - Returns: `nil` when `bytes` is not 32 bytes long.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        (w0, w1, w2, w3) = (UInt64(bigEndian: words.0), UInt64(bigEndian: words.1), UInt64(bigEndian: words.2), UInt64(bigEndian: words.3))
    }

    /// Calls `body` with the 32 bytes of the id (as ``bytes``, without allocating).
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return try Swift.withUnsafeBytes(of: words, body)
    }

    /// Parses 64 hexadecimal digits.
    /// - Throws: ``ConcordCoreError/Code/invalidIdentifier`` when the text is not 64 hex digits.
    public init(hex: String) throws {
        guard let bytes = Hex.decode(hex), let id = ReplicaID(bytes: bytes) else {
            throw ConcordCoreError(.invalidIdentifier, "a replica id is 64 hexadecimal digits; got \"\(hex)\"")
        }
        self = id
    }

    /// The 32 bytes of the id.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// Lowercase hexadecimal form, 64 digits.
    public var hex: String { Hex.encode(bytes) }

    /// The first 8 hex digits, for logs and demos.
    public var shortDescription: String { String(hex.prefix(8)) }

    public var description: String { hex }

    @inlinable
    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }

    /// A replica id drawn from `generator`; for tests and simulations.
    public static func random(using generator: inout some RandomNumberGenerator) -> ReplicaID {
        var id = ReplicaID(bytes: [UInt8](repeating: 0, count: 32))!
        id.w0 = generator.next()
        id.w1 = generator.next()
        id.w2 = generator.next()
        id.w3 = generator.next()
        return id
    }
}

/// Lowercase hexadecimal helpers.
enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
