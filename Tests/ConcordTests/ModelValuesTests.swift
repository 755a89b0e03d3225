import ConcordCore
import ConcordStore
import Foundation
import Testing

@testable import Concord

/// Issue 17, item 3: the values apps have. Lists keep order and duplicates, nested
/// structs and dictionaries merge per key, set fields can be queried, fields can be named
/// by key paths and coding keys.
@Suite("Model values: lists, nested structs, dictionaries, enums, typed names")
struct ModelValuesTests {
    struct Address: Codable, Equatable {
        var street: String
        var city: String
        var floor: Int?
    }

    enum Status: Codable, Equatable {
        case open
        case done(at: Double, by: String)
    }

    struct Contact: RecordModel, Identifiable, Equatable {
        enum Kind: String, Codable, CaseIterable { case person, company }
        static let collection = "contacts"
        static let recordDefaults = Contact(id: UUID(), name: "", kind: .person, address: Address(street: "", city: ""))

        var id: UUID
        var name: String
        var kind: Kind
        var address: Address
        var phones: [String] = []
        var tags: Set<String> = []
        var scores: [String: Int] = [:]
        var status: Status = .open
        var nickname: String? = "pal"
    }

    static func contact(_ name: String) -> Contact {
        Contact(id: UUID(), name: name, kind: .person, address: Address(street: "1 Main St", city: "Oslo"))
    }

    @Test("how each type is stored: flattened paths, lists, sets")
    func storage() throws {
        var contact = Self.contact("Ada")
        contact.phones = ["555", "444", "555"]
        contact.tags = ["b", "a"]
        contact.scores = ["math": 9, "a.b": 1]
        contact.status = .done(at: 12.5, by: "bo")
        let encoded = try RecordEncoder().encode(contact)
        #expect(encoded.fields["name"] == "Ada")
        #expect(encoded.fields["kind"] == "person")
        #expect(encoded.fields["address.street"] == "1 Main St")
        #expect(encoded.fields["address.city"] == "Oslo")
        #expect(encoded.fields["address.floor"] == .null)
        #expect(encoded.fields["address"] == true, "a nested struct is flattened (its marker says it is there), not JSON")
        #expect(encoded.lists["phones"] == ["555", "444", "555"], "an array keeps order and duplicates")
        #expect(encoded.sets["tags"] == ["a", "b"])
        #expect(encoded.fields["scores.math"] == 9)
        #expect(encoded.fields["scores.a%2Eb"] == 1, "a '.' inside a key is escaped")
        #expect(encoded.fields["status.done.at"] == 12.5)
        #expect(encoded.fields["status.done.by"] == "bo")
        #expect(encoded.replaced == ["scores", "status"], "dictionaries and enums are replaced as a whole; structs keep unknown fields")
        #expect(encoded.containers == ["address", "scores", "status", "status.done"])

        let view = RecordView(
            id: RecordID(contact.id), fields: encoded.fields.map { RecordView.Field(name: $0.key, value: $0.value) },
            sets: encoded.sets.map { RecordView.SetField(name: $0.key, members: $0.value) }
                + encoded.lists.map { name, values in
                    RecordView.SetField(
                        name: name,
                        members: values.enumerated().map { ListElement(position: [UInt8($0.offset + 1)], value: $0.element).member })
                })
        #expect(try RecordDecoder().decode(Contact.self, from: view) == contact)
    }

    @Test("lists merge concurrent inserts and removes, keep order and duplicates, and converge")
    func listsMerge() async throws {
        let dir = temporaryDirectory()
        let a = try Replica.createWithoutMembers(at: dir + "/a")
        let b = try Replica.join(try await a.invite(), at: dir + "/b")
        var contact = Self.contact("Ada")
        contact.phones = ["1", "2", "3"]
        try await a.save(contact)
        try await sync(a, b)

        var onA = contact
        onA.phones = ["0", "1", "3"]  // insert at the front, remove "2"
        try await a.save(onA)
        var onB = try #require(try await b.fetch(Contact.self, id: contact.id))
        onB.phones = ["1", "2", "2.5", "3", "4", "4"]  // insert in the middle, append a duplicate pair
        try await b.save(onB)
        try await sync(a, b)

        let merged = try #require(try await a.fetch(Contact.self, id: contact.id))
        #expect(merged.phones == ["0", "1", "2.5", "3", "4", "4"])
        #expect(try await b.fetch(Contact.self, id: contact.id)?.phones == merged.phones)
        #expect(try await a.state().digestHex == b.state().digestHex)
    }

    @Test("nested structs merge per field; dictionaries per key, with removed keys cleared; enums switch cases cleanly")
    func nestedMerge() async throws {
        let dir = temporaryDirectory()
        let a = try Replica.createWithoutMembers(at: dir + "/a")
        let b = try Replica.join(try await a.invite(), at: dir + "/b")
        var contact = Self.contact("Ada")
        contact.scores = ["math": 9, "art": 4]
        try await a.save(contact)
        try await sync(a, b)

        var onA = contact
        onA.address.city = "Bergen"
        onA.scores["art"] = nil
        onA.status = .done(at: 1, by: "a")
        try await a.save(onA)
        var onB = try #require(try await b.fetch(Contact.self, id: contact.id))
        onB.address.street = "2 Side St"
        onB.scores["music"] = 7
        try await b.save(onB)
        try await sync(a, b)

        let merged = try #require(try await b.fetch(Contact.self, id: contact.id))
        #expect(merged.address == Address(street: "2 Side St", city: "Bergen"), "concurrent edits of two nested fields both survive")
        #expect(merged.scores == ["math": 9, "music": 7])
        #expect(merged.status == .done(at: 1, by: "a"))

        var reopened = merged
        reopened.status = .open
        try await b.save(reopened)
        let record = try #require(try await b.record(RecordID(contact.id), in: "contacts"))
        #expect(record["status.done.at"] == .null && record["status.done.by"] == .null, "the previous case is cleared")
        #expect(try await b.fetch(Contact.self, id: contact.id)?.status == .open)
    }

    struct LegacyNote: Codable, Identifiable, Equatable {
        struct Body: Codable, Equatable {
            var text: String
            var pinned: Bool
        }
        var id: UUID
        var body: Body
    }

    @Test("a nested struct stored as JSON by an earlier version still reads, and saving flattens it")
    func legacyJSONReads() async throws {
        let replica = try Replica.createWithoutMembers(at: temporaryDirectory() + "/a")
        let id = UUID()
        try await replica.write { tx in
            try tx.set("body", to: .string(#"{"pinned":true,"text":"hi"}"#), record: RecordID(id), in: "notes")
        }
        let old = try #require(try await replica.fetch(LegacyNote.self, id: id, in: "notes"))
        #expect(old.body == LegacyNote.Body(text: "hi", pinned: true))
        try await replica.save(old, in: "notes")
        let record = try #require(try await replica.record(RecordID(id), in: "notes"))
        #expect(
            record["body"] == true && record["body.text"] == "hi" && record["body.pinned"] == true, "the JSON is replaced by the marker")
        #expect(try await replica.fetch(LegacyNote.self, id: id, in: "notes") == old)
    }

    @Test("set fields can be queried with contains, by name, coding key or key path, on both stores")
    func containsQueries() async throws {
        for store in [MemoryStore(), try SQLiteStore(path: temporaryDirectory() + "/q.sqlite")] as [any Store] {
            let replica = try Replica(store: store, membership: Membership.createSpace())
            var names: [String] = []
            for (index, tags) in [["home"], ["work", "home"], ["work"], []].enumerated() {
                var contact = Self.contact("c\(index)")
                contact.tags = Set(tags)
                try await replica.save(contact)
                names.append(contact.name)
            }
            let home = try await replica.all(
                Contact.self, matching: RecordQuery("contacts").where("tags", contains: "home").order(by: "name"))
            #expect(home.map(\.name) == ["c0", "c1"])
            let typed = try await replica.all(Contact.query.where(\.tags, contains: "work").order(by: \.name, descending: true).limit(1))
            #expect(typed.map(\.name) == ["c2"])
            #expect(try await replica.count(matching: RecordQuery("contacts").where("tags", contains: "work")) == 2)
        }
    }

    @Test("key paths and coding keys name fields; a key path that is no single field throws")
    func typedNames() throws {
        #expect(try Contact.fieldName(\.name) == "name")
        #expect(try Contact.fieldName(\.address.city) == "address.city")
        #expect(try Contact.fieldName(\.kind) == "kind")
        #expect(try Contact.fieldName(\.nickname) == "nickname")
        #expect(throws: ConcordError.self) { try Contact.fieldName(\.address) }
        #expect(throws: ConcordError.self) { try Contact.fieldName(\.phones) }

        enum Keys: String, CodingKey { case name, tags }
        #expect(RecordQuery("contacts").where(Keys.name, .equals("x")).filters.first?.field == "name")
        #expect(RecordQuery("contacts").where(Keys.tags, contains: "x").memberFilters.first?.field == "tags")

        let bad = Contact.query.where(\.phones, .equals("1"))
        #expect(throws: ConcordError.self) { try bad.recordQuery() }
    }

    @Test("typed accessors and initialisers on Value")
    func valueAccessors() throws {
        #expect(Value.string("x").stringValue == "x" && Value.int(3).intValue == 3 && Value.bool(true).boolValue == true)
        #expect(Value.int(3).doubleValue == 3 && Value.double(1.5).doubleValue == 1.5 && Value.string("x").intValue == nil)
        #expect(Value.null.isNull && !Value.int(0).isNull)
        #expect(Value.bytes([1, 2]).bytesValue == [1, 2] && Value.bytes([1]).dataValue == Data([1]))
        let date = Date(timeIntervalSince1970: 1_700_000_000.5)
        #expect(Value(date) == .double(1_700_000_000.5) && Value(date).dateValue == date)
        let uuid = UUID()
        #expect(Value(uuid) == .string(uuid.uuidString) && Value(uuid).uuidValue == uuid)
        #expect(Value(Contact.Kind.company) == "company")
        enum Level: Int { case high = 9 }
        #expect(Value(Level.high) == 9)
        #expect(try Value(encoding: Contact.Kind.person) == "person")
        #expect(throws: ConcordError.self) { try Value(encoding: Address(street: "", city: "")) }
    }

    @Test(
        "list positions: always strictly between, never ending in zero",
        arguments: [
            ([UInt8]?.none, [UInt8]?.none), ([1], nil), (nil, [1]), ([1], [2]), ([1], [1, 0, 1]), ([255], nil), ([0, 1], [0, 2]),
            ([5], [5]),
        ])
    func positions(lower: [UInt8]?, upper: [UInt8]?) {
        let middle = ListElement.position(between: lower, and: upper)
        #expect(middle.last != 0 && !middle.isEmpty)
        if let lower { #expect(lower.lexicographicallyPrecedes(middle)) }
        if let upper, lower != upper { #expect(middle.lexicographicallyPrecedes(upper)) }
    }
}
