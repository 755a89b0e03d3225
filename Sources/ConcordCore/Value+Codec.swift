extension Value {
    /// Appends the canonical encoding: one tag byte (the rank) then the payload
    /// (see `Specs/wire-format.md`, "Values").
    public func encode(into writer: inout ByteWriter) {
        writer.write(rank)
        switch self {
        case .null: break
        case .bool(let b): writer.write(b ? 1 : 0)
        case .int(let i): writer.writeZigzag(i)
        case .double(let d): writer.writeDouble(d)
        case .string(let s): writer.writeString(s)
        case .bytes(let b): writer.writeLengthPrefixed(b)
        case .reference(let r):
            writer.writeString(r.collection)
            writer.write(contentsOf: r.id.bytes)
        }
    }

    /// Reads one canonically encoded value.
    /// - Throws: ``ConcordCoreError/Code/malformedEncoding`` on an unknown tag, a non-0/1
    ///   bool, invalid UTF-8 or truncation.
    public static func decode(from reader: inout ByteReader) throws -> Value {
        let tag = try reader.readByte()
        switch tag {
        case 0: return .null
        case 1:
            switch try reader.readByte() {
            case 0: return .bool(false)
            case 1: return .bool(true)
            default: throw reader.error("bool value is neither 0 nor 1")
            }
        case 2: return .int(try reader.readZigzag())
        case 3: return .double(try reader.readDouble())
        case 4: return .string(try reader.readString())
        case 5: return .bytes(try reader.readLengthPrefixed())
        case 6:
            let collection = try reader.readString()
            let id = RecordID(bytes: try reader.readBytes(16))!
            return .reference(RecordReference(collection: collection, id: id))
        default:
            throw reader.error("unknown value tag \(tag)")
        }
    }

    /// The canonical encoding as bytes.
    public var canonicalBytes: [UInt8] {
        var writer = ByteWriter()
        encode(into: &writer)
        return writer.bytes
    }
}
