/// Reads the primitives written by ``ByteWriter`` with strict bounds: every read checks
/// the remaining length, varints must be minimal and fit in 64 bits, strings must be
/// valid UTF-8, and counts are checked against the bytes left before anything is
/// allocated. Failures throw ``ConcordCoreError/Code/malformedEncoding`` with the offset.
public struct ByteReader: Sendable {
    @usableFromInline let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var offset: Int
    /// Where reading stops (exclusive).
    public let end: Int

    /// Reads `bytes[range]`, all of `bytes` by default.
    ///
    /// - Precondition: `range` lies within `bytes`. Every read checks against the range's
    ///   end only, and the fast paths (``readFixed64()``, ``readString()``) load through
    ///   unsafe pointers, so a range past the array would read outside it.
    public init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        let r = range ?? 0..<bytes.count
        precondition(
            r.lowerBound >= 0 && r.upperBound <= bytes.count, "ByteReader range \(r) lies outside the \(bytes.count) bytes it reads")
        self.bytes = bytes
        offset = r.lowerBound
        end = r.upperBound
    }

    /// Bytes left to read.
    public var remaining: Int { end - offset }
    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= end }

    /// A malformed-encoding error at the current offset.
    public func error(_ what: String) -> ConcordCoreError {
        ConcordCoreError(.malformedEncoding, "\(what) at byte \(offset); the data is truncated or corrupted, obtain a fresh copy from its sender")
    }

    /// Reads one byte.
    public mutating func readByte() throws -> UInt8 {
        guard offset < end else { throw error("unexpected end of data") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads `count` raw bytes.
    public mutating func readBytes(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw error("a \(count)-byte field runs past the end of the data") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// Reads a minimal unsigned LEB128 varint of at most 10 bytes.
    @inline(__always)
    public mutating func readVarint() throws -> UInt64 {
        // Most varints (indexes, counts, small deltas) are one byte.
        if offset < end, bytes[offset] < 0x80 {
            offset += 1
            return UInt64(bytes[offset - 1])
        }
        return try readLongVarint()
    }

    /// ``readVarint()`` for varints of any length.
    private mutating func readLongVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63 && byte > 1 { throw error("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw error("varint is not minimally encoded") }
                return result
            }
            shift += 7
        }
    }

    /// Reads a zigzag varint.
    public mutating func readZigzag() throws -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// Reads a varint count of items, each at least `minimumItemSize` bytes, and checks
    /// that they can fit in the remaining bytes (so no allocation exceeds the input).
    public mutating func readCount(minimumItemSize: Int = 1, what: String) throws -> Int {
        let count = try readVarint()
        guard count <= UInt64(remaining / max(1, minimumItemSize)) else {
            throw error("\(what) count \(count) exceeds what the remaining \(remaining) bytes can hold")
        }
        return Int(count)
    }

    /// Reads 8 little-endian bytes.
    public mutating func readFixed64() throws -> UInt64 {
        guard remaining >= 8 else { throw error("a 8-byte field runs past the end of the data") }
        defer { offset += 8 }
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }

    /// Reads a little-endian IEEE-754 double.
    public mutating func readDouble() throws -> Double { Double(bitPattern: try readFixed64()) }

    /// Reads a varint-length-prefixed byte string.
    public mutating func readLengthPrefixed() throws -> [UInt8] {
        let count = try readCount(what: "byte string length")
        return Array(try readBytes(count))
    }

    /// Reads a varint-length-prefixed UTF-8 string; invalid UTF-8 is an error, never replaced.
    public mutating func readString() throws -> String {
        let start = offset
        let count = try readCount(what: "string length")
        let string = bytes.withUnsafeBufferPointer { buffer -> String? in
            let raw = UnsafeBufferPointer(rebasing: buffer[offset..<offset + count])
            // ASCII is valid UTF-8 by definition: skip the validating initializer, which is
            // generic and looks up type metadata on every call.
            var bits: UInt8 = 0
            for byte in raw { bits |= byte }
            if bits < 0x80 { return String(decoding: raw, as: UTF8.self) }
            return String(validating: raw, as: UTF8.self)
        }
        guard let string else {
            offset = start
            throw error("string is not valid UTF-8")
        }
        offset += count
        return string
    }
}
