/// The 16-byte id of a record, made on the device that creates the record (a UUID).
///
/// ```swift
/// let id = RecordID.random()
/// let same = try RecordID(uuidString: id.uuidString)
/// ```
public struct RecordID: Hashable, Comparable, Sendable, CustomStringConvertible {
    @usableFromInline var high: UInt64
    @usableFromInline var low: UInt64

    /// Creates an id from its two big-endian halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates an id from exactly 16 bytes; `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(byte) } else { l = l << 8 | UInt64(byte) }
        }
        self.init(high: h, low: l)
    }

    /// Parses UUID text such as `"E621E1F8-C36C-495A-93FC-0C247A3E6E5F"` (any letter case,
    /// hyphens optional).
    /// - Throws: ``ConcordCoreError/Code/invalidIdentifier`` when the text is not a UUID.
    public init(uuidString: String) throws {
        let hex = uuidString.filter { $0 != "-" }
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex), let id = RecordID(bytes: bytes) else {
            throw ConcordCoreError(.invalidIdentifier, "a record id is a UUID like E621E1F8-C36C-495A-93FC-0C247A3E6E5F; got \"\(uuidString)\"")
        }
        self = id
    }

    /// A random version-4 UUID from the system generator.
    public static func random() -> RecordID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// A version-4 UUID drawn from `generator` (use a seeded generator in tests).
    public static func random(using generator: inout some RandomNumberGenerator) -> RecordID {
        var id = RecordID(high: generator.next(), low: generator.next())
        id.high = (id.high & ~0xF000) | 0x4000  // version 4
        id.low = (id.low & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        return id
    }

    /// Calls `body` with the 16 bytes of the id (as ``bytes``, without allocating).
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: (high.bigEndian, low.bigEndian), body)
    }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        (0..<16).map { i in
            let word = i < 8 ? high : low
            return UInt8(truncatingIfNeeded: word >> UInt64(56 - 8 * (i % 8)))
        }
    }

    /// Uppercase UUID text with hyphens, as Foundation's `UUID.uuidString` prints it.
    public var uuidString: String {
        let hex = Hex.encode(bytes).uppercased()
        let chars = Array(hex)
        return [chars[0..<8], chars[8..<12], chars[12..<16], chars[16..<20], chars[20..<32]]
            .map { String($0) }.joined(separator: "-")
    }

    public var description: String { uuidString }

    @inlinable
    public static func < (lhs: RecordID, rhs: RecordID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}
