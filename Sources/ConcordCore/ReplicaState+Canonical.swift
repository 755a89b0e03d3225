extension ReplicaState {
    /// Version byte that starts ``canonicalEncoding()``.
    public static let canonicalEncodingVersion: UInt8 = 1

    /// The canonical encoding of the *visible* state: every visible record with its field
    /// values and non-empty set members, in a fixed order (collections and names by UTF-8
    /// bytes, records by id, set members by ``Value``'s total order). Replicas that have
    /// seen the same operations produce identical bytes, whatever the order of arrival.
    /// Layout: `Specs/wire-format.md`, "Canonical state".
    /// - Complexity: O(n log n) in the number of records and fields.
    public func canonicalEncoding() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.canonicalEncodingVersion)
        let visible = collectionIndex.keys.sorted().compactMap { name -> (ByteString, [RecordID])? in
            let ids = sortedIDs(in: name).filter { records[RecordKey(collection: name, id: $0)]!.isVisible }
            return ids.isEmpty ? nil : (name, ids)
        }
        writer.writeVarint(UInt64(visible.count))
        for (name, ids) in visible {
            writer.writeString(name.string)
            writer.writeVarint(UInt64(ids.count))
            for id in ids {
                records[RecordKey(collection: name, id: id)]!.encodeVisible(id: id, into: &writer)
            }
        }
        return writer.bytes
    }

    /// SHA-256 of ``canonicalEncoding()``: equal on every converged replica.
    public var digest: [UInt8] { SHA256.hash(canonicalEncoding()) }

    /// ``digest`` as 64 lowercase hex digits.
    public var digestHex: String { Hex.encode(digest) }
}

extension RecordState {
    func encodeVisible(id: RecordID, into writer: inout ByteWriter) {
        writer.write(contentsOf: id.bytes)
        let fieldNames = registers.keys.sorted()
        writer.writeVarint(UInt64(fieldNames.count))
        for name in fieldNames {
            writer.writeString(name.string)
            registers[name]!.value.encode(into: &writer)
        }
        let setMembers = sets.fields.compactMap { field -> (ByteString, [Value])? in
            let members = field.set.elements
            return members.isEmpty ? nil : (field.name, members)
        }
        writer.writeVarint(UInt64(setMembers.count))
        for (name, members) in setMembers {
            writer.writeString(name.string)
            writer.writeVarint(UInt64(members.count))
            for member in members { member.encode(into: &writer) }
        }
    }
}
