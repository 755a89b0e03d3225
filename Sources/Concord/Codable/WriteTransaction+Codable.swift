import ConcordCore
import Foundation

extension WriteTransaction {
    /// Saves an app model as a record, in this transaction.
    ///
    /// Only what differs from the stored record is written, so concurrent edits of other
    /// properties on other devices merge instead of being overwritten; fields the model
    /// does not have (added by a newer app version) are kept. Mapping rules:
    /// ``RecordEncoder``; how each type merges: `Specs/model-mapping.md`.
    ///
    /// ```swift
    /// try await replica.write { tx in
    ///     try tx.save(list, in: "lists")
    ///     for item in items { try tx.save(item, in: "items") }
    /// }
    /// ```
    /// - Parameters:
    ///   - value: The model; its `id` is the record id.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: `ConcordError` `.invalidModel` when the model cannot be mapped,
    ///   `.valueTooLarge`, or a write error.
    public func save<T: Encodable & Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == UUID {
        try save(value, id: RecordID(value.id), in: collection ?? Replica.collectionName(T.self))
    }

    /// Saves an app model whose id is a `RecordID`. See `save(_:in:)`.
    /// - Parameters:
    ///   - value: The model; its `id` is the record id.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: As `save(_:in:)`.
    public func save<T: Encodable & Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == RecordID {
        try save(value, id: value.id, in: collection ?? Replica.collectionName(T.self))
    }

    /// Deletes a model's record (a later save brings it back).
    /// - Parameters:
    ///   - value: The model.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: A write error.
    public func delete<T: Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == UUID {
        try delete(record: RecordID(value.id), in: collection ?? Replica.collectionName(T.self))
    }

    /// Whether saving `encoded` over `stored` changes nothing: the same value, or the same
    /// number as an `int` and a `double` (a model that reads a widened field encodes it in
    /// its own type; writing it back would overwrite a concurrent edit of another app
    /// version with a stale value, `Specs/model-mapping.md` §5).
    static func unchanged(_ stored: Value?, _ encoded: Value) -> Bool {
        switch (stored, encoded) {
        case (.int(let i)?, .double(let d)), (.double(let d)?, .int(let i)):
            return Double(exactly: i) == d
        default:
            return stored == encoded
        }
    }

    /// Writes the difference between `value`'s encoding and the stored record.
    func save<T: Encodable>(_ value: T, id: RecordID, in collection: String) throws {
        let encoded: EncodedRecord
        do {
            encoded = try RecordEncoder().encode(value)
        } catch {
            throw ConcordError(.invalidModel, "\(T.self) cannot be saved as a record: \(error)")
        }
        let current = try record(id, in: collection)
        for (name, value) in encoded.fields.sorted(by: { $0.key < $1.key }) where !Self.unchanged(current?[name], value) {
            try set(name, to: value, record: id, in: collection)
        }
        for (name, members) in encoded.sets.sorted(by: { $0.key < $1.key }) {
            let present = Set(current?.members(of: name) ?? [])
            for member in members where !present.contains(member) { try add(member, to: name, record: id, in: collection) }
            for member in present.subtracting(members).sorted() { try remove(member, from: name, record: id, in: collection) }
        }
        for (name, values) in encoded.lists.sorted(by: { $0.key < $1.key }) {
            try saveList(values, name: name, current: current?.members(of: name) ?? [], record: id, in: collection)
        }
        if let current { try clearReplaced(current, keeping: encoded, record: id, in: collection) }
        if current == nil && encoded.fields.isEmpty && encoded.sets.isEmpty && encoded.lists.isEmpty {
            try set("id", to: .string(id.uuidString), record: id, in: collection)  // an empty model still exists
        }
    }

    /// Turns the stored list into `values`: the elements a minimal diff keeps stay where
    /// they are, the others are removed, and new values get positions between their kept
    /// neighbours (`Specs/crdt-semantics.md` §10).
    private func saveList(_ values: [Value], name: String, current members: [Value], record id: RecordID, in collection: String) throws {
        let (elements, plain) = ListElement.split(members)
        // Members written when the field was a set have no position: they are replaced by
        // elements.
        for member in plain { try remove(member, from: name, record: id, in: collection) }
        let difference = values.difference(from: elements.map(\.value))
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        for offset in removed.sorted() { try remove(elements[offset].member, from: name, record: id, in: collection) }
        let kept = elements.indices.filter { !removed.contains($0) }.map { elements[$0] }
        var next = 0  // the next kept element
        var lower: [UInt8]?
        for (offset, value) in values.enumerated() {
            if inserted.contains(offset) {
                let position = ListElement.position(between: lower, and: next < kept.count ? kept[next].position : nil)
                try add(ListElement(position: position, value: value).member, to: name, record: id, in: collection)
                lower = position
            } else {
                lower = kept[next].position
                next += 1
            }
        }
    }

    /// Clears what the record stores inside the containers the model replaces as a whole
    /// and does not contain any more, and registers holding an earlier version's JSON of
    /// a container that is now flattened.
    private func clearReplaced(_ current: RecordView, keeping encoded: EncodedRecord, record id: RecordID, in collection: String) throws {
        guard !encoded.replaced.isEmpty || !encoded.containers.isEmpty else { return }
        func replaced(_ name: String) -> Bool {
            encoded.replaced.contains { name == $0 || name.hasPrefix($0 + ".") }
        }
        for field in current.fields where field.value != .null && encoded.fields[field.name] == nil {
            if replaced(field.name) || encoded.containers.contains(field.name) {
                try set(field.name, to: .null, record: id, in: collection)
            }
        }
        for set in current.sets where encoded.sets[set.name] == nil && encoded.lists[set.name] == nil && replaced(set.name) {
            for member in set.members { try remove(member, from: set.name, record: id, in: collection) }
        }
    }
}
