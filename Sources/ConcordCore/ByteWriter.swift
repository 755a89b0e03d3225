/// Appends the primitives of Concord's binary encodings: bytes, LEB128 varints, zigzag
/// integers, little-endian doubles and length-prefixed strings (see `Specs/wire-format.md`).
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer, optionally reserving capacity.
    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// Appends one byte.
    public mutating func write(_ byte: UInt8) { bytes.append(byte) }

    /// Appends raw bytes.
    public mutating func write(contentsOf raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// Appends an unsigned LEB128 varint (1 to 10 bytes, minimal length).
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Appends a signed integer as a zigzag-encoded varint.
    public mutating func writeZigzag(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Appends 8 bytes: the little-endian IEEE-754 bit pattern.
    public mutating func writeDouble(_ value: Double) {
        writeFixed64(value.bitPattern)
    }

    /// Appends 8 bytes little-endian.
    public mutating func writeFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a varint length then the UTF-8 bytes.
    public mutating func writeString(_ string: String) {
        writeVarint(UInt64(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    /// Appends a varint length then the bytes.
    public mutating func writeLengthPrefixed(_ raw: [UInt8]) {
        writeVarint(UInt64(raw.count))
        bytes.append(contentsOf: raw)
    }
}
