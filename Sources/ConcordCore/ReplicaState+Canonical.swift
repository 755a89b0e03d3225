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

    /// ``canonicalEncoding()`` of the state that holds exactly `records`, without building
    /// that state: a snapshot's loader checks its visible digest this way
    /// (`Specs/snapshots.md` §4.5 step 2). `records` must be in (collection UTF-8 bytes,
    /// id bytes) order with no repeat, as a snapshot's are: the canonical order.
    /// - Parameters:
    ///   - records: The records, in order.
    ///   - parts: A record's collection, id and state.
    /// - Returns: The bytes, or nil when `records` are not in that order (build the state).
    /// - Complexity: O(n) in the records and their fields (sorting each record's names).
    package static func canonicalEncoding<C: Collection>(
        ofSorted records: C, _ parts: (C.Element) -> (collection: String, id: RecordID, state: RecordState)
    ) -> [UInt8]? {
        // Runs of one collection: its name, where it starts and its visible records.
        var runs: [(name: ByteString, start: C.Index, end: C.Index, visible: Int)] = []
        var previous: (ByteString, RecordID)?
        var index = records.startIndex
        while index != records.endIndex {
            let (collection, id, state) = parts(records[index])
            let name = ByteString(collection)
            if let (lastName, lastID) = previous {
                if name == lastName {
                    guard lastID < id else { return nil }
                } else {
                    guard lastName < name else { return nil }
                    runs[runs.count - 1].end = index
                    runs.append((name, index, records.endIndex, 0))
                }
            } else {
                runs.append((name, index, records.endIndex, 0))
            }
            if state.isVisible { runs[runs.count - 1].visible += 1 }
            previous = (name, id)
            index = records.index(after: index)
        }
        var writer = ByteWriter()
        writer.write(Self.canonicalEncodingVersion)
        let shown = runs.filter { $0.visible > 0 }
        writer.writeVarint(UInt64(shown.count))
        for run in shown {
            writer.writeString(run.name.string)
            writer.writeVarint(UInt64(run.visible))
            for element in records[run.start..<run.end] {
                let (_, id, state) = parts(element)
                if state.isVisible { state.encodeVisible(id: id, into: &writer) }
            }
        }
        return writer.bytes
    }

    /// SHA-256 of ``canonicalEncoding(ofSorted:_:)``: the visible digest of the state that
    /// holds exactly `records` (in canonical order), or nil when they are not in that order.
    package static func digest<C: Collection>(
        ofSorted records: C, _ parts: (C.Element) -> (collection: String, id: RecordID, state: RecordState)
    ) -> [UInt8]? {
        canonicalEncoding(ofSorted: records, parts).map(SHA256.hash)
    }

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
