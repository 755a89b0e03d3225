import ConcordCore
import Foundation
import Testing
@testable import Concord
@testable import ConcordProtocol

@Suite struct CodableMappingTests {
    struct Todo: Codable, Equatable {
        struct Note: Codable, Equatable {
            var text: String
            var pinned: Bool
        }

        var id: UUID
        var title: String
        var done: Bool
        var priority: Int
        var tags: Set<String>
        var due: Date?
        var attachment: Data?
        var note: Note
    }

    static let todoID = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!

    static func todo(due: Date? = Date(timeIntervalSince1970: 1_767_225_600.25), attachment: Data? = Data([0, 1, 0xFF])) -> Todo {
        Todo(id: todoID, title: "Buy milk", done: false, priority: 2, tags: ["home", "errand", "dairy"],
             due: due, attachment: attachment, note: .init(text: "2% \"fresh\"", pinned: true))
    }

    /// The view a replica would show after applying `encoded` to record `id` (list
    /// values become elements at increasing positions).
    static func view(_ encoded: EncodedRecord, id: RecordID) -> RecordView {
        let lists = encoded.lists.map { name, values in
            RecordView.SetField(name: name, members: values.enumerated().map { ListElement(position: [UInt8($0.offset + 1)], value: $0.element).member })
        }
        return RecordView(id: id,
                   fields: encoded.fields.map { RecordView.Field(name: $0.key, value: $0.value) },
                   sets: encoded.sets.map { RecordView.SetField(name: $0.key, members: $0.value) } + lists)
    }

    static func roundTrip<T: Codable>(_ value: T, id: RecordID) throws -> T {
        try RecordDecoder().decode(T.self, from: view(RecordEncoder().encode(value), id: id))
    }

    static func context(_ error: EncodingError?) -> EncodingError.Context? {
        guard case .invalidValue(_, let context)? = error else { return nil }
        return context
    }

    static func path(_ keys: [any CodingKey]) -> [String] { keys.map(\.stringValue) }

    // MARK: Round trips

    @Test func everySupportedKindRoundTrips() throws {
        let todo = Self.todo()
        let encoded = try RecordEncoder().encode(todo)
        #expect(encoded.fields == [
            "title": .string("Buy milk"),
            "done": .bool(false),
            "priority": .int(2),
            "due": .double(1_767_225_600.25),
            "attachment": .bytes([0, 1, 0xFF]),
            "note": true,  // a nested struct is flattened: its marker, then one field per property
            "note.pinned": true,
            "note.text": "2% \"fresh\"",
        ])
        #expect(encoded.sets == ["tags": ["dairy", "errand", "home"]])
        #expect(encoded.fields["id"] == nil, "the id is the record's identity, not a field")

        let id = try RecordID(uuidString: Self.todoID.uuidString)
        let decoded = try RecordDecoder().decode(Todo.self, from: Self.view(encoded, id: id))
        #expect(decoded == todo)
    }

    @Test func idIsFilledFromTheRecord() throws {
        let otherID = RecordID(high: 0x0123_4567_89AB_4DEF, low: 0x8123_4567_89AB_CDEF)
        let decoded = try Self.roundTrip(Self.todo(), id: otherID)
        #expect(decoded.id.uuidString == otherID.uuidString)
    }

    @Test func nilOptionalsAreNullAndMissingFieldsAreNil() throws {
        let todo = Self.todo(due: nil, attachment: nil)
        let encoded = try RecordEncoder().encode(todo)
        #expect(encoded.fields["due"] == .null && encoded.fields["attachment"] == .null)
        #expect(try Self.roundTrip(todo, id: .random()).due == nil)

        var fields = encoded.fields
        fields["due"] = nil
        fields["attachment"] = nil
        let sparse = RecordView(id: .random(), fields: fields.map { RecordView.Field(name: $0.key, value: $0.value) },
                                sets: [])
        let decoded = try RecordDecoder().decode(Todo.self, from: sparse)
        #expect(decoded.due == nil && decoded.attachment == nil && decoded.tags.isEmpty, "absent set decodes as empty")
    }

    struct Contact: Codable, Equatable {
        var id: RecordID
        var name: String
        var manager: RecordID?
        var nickname: String?
    }

    @Test func recordIDModelRoundTrips() throws {
        let contact = Contact(id: .random(), name: "Ada", manager: .random(), nickname: nil)
        let encoded = try RecordEncoder().encode(contact)
        #expect(encoded.fields == ["name": "Ada", "manager": .string(contact.manager!.uuidString), "nickname": .null])
        #expect(try Self.roundTrip(contact, id: contact.id) == contact)
    }

    struct Kinds: Codable, Equatable {
        enum Status: String, Codable { case open, closed }
        enum Level: Int, Codable { case low = 1, high = 9 }
        var i8: Int8
        var u16: UInt16
        var i64: Int64
        var u64: UInt64
        var float: Float
        var url: URL
        var link: UUID
        var status: Status
        var levels: Set<Level>
        var counts: [Int]
        var notes: [Todo.Note]
        var emptyNotes: [Todo.Note]
        var scores: [String: Int]
        var maybeTags: [String]?
    }

    @Test func integersEnumsURLsAndNestedCollectionsRoundTrip() throws {
        let kinds = Kinds(i8: -8, u16: 65535, i64: .min, u64: UInt64(Int64.max), float: 0.1, url: URL(string: "https://example.com/a?b=c")!,
                          link: UUID(), status: .closed, levels: [.high, .low], counts: [3, 1, 2],
                          notes: [.init(text: "a", pinned: false)], emptyNotes: [], scores: ["x": 1, "a": 2], maybeTags: nil)
        let encoded = try RecordEncoder().encode(kinds)
        #expect(encoded.fields["u64"] == .int(Int64.max))
        #expect(encoded.fields["float"] == .double(Double(Float(0.1))))
        #expect(encoded.fields["url"] == "https://example.com/a?b=c")
        #expect(encoded.fields["status"] == "closed")
        #expect(encoded.sets["levels"] == [1, 9])
        #expect(encoded.lists["counts"] == [3, 1, 2], "an array of scalars is a list: order kept")
        #expect(encoded.fields["notes"] == .string(#"[{"pinned":false,"text":"a"}]"#))
        #expect(encoded.fields["emptyNotes"] == "[]", "an array of structs is JSON even when empty")
        #expect(encoded.fields["scores"] == true && encoded.fields["scores.a"] == 2 && encoded.fields["scores.x"] == 1,
                "a dictionary is flattened, one field per key")
        #expect(encoded.replaced.contains("scores"))
        #expect(encoded.lists["maybeTags"] == [], "a nil optional array is an empty list, not a null field")
        #expect(try Self.roundTrip(kinds, id: .random()) == kinds)
    }

    class Item: Codable {
        var name = "item"
        var labels: [String] = []
    }

    final class Chore: Item {
        var estimate = 0
        private enum CodingKeys: String, CodingKey { case estimate }
        override init() { super.init() }

        required init(from decoder: any Decoder) throws {
            estimate = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .estimate)
            try super.init(from: decoder.container(keyedBy: CodingKeys.self).superDecoder())
        }

        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(estimate, forKey: .estimate)
            try super.encode(to: container.superEncoder())
        }
    }

    /// Encodes as its wrapped array: a single-value wrapper is stored as what it wraps.
    struct Keywords: Codable, Equatable {
        var values: [String]
        init(_ values: [String]) { self.values = values }
        init(from decoder: any Decoder) throws { values = try decoder.singleValueContainer().decode([String].self) }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(values)
        }
    }

    struct Page: Codable, Equatable {
        var id: String  // not a UUID: an ordinary field
        var keywords: Keywords
        var ratings: [Int?]
    }

    @Test func superclassesWrappersAndOtherIDsMap() throws {
        let task = Chore()
        task.name = "Paint"
        task.labels = ["b", "a"]
        task.estimate = 3
        let encoded = try RecordEncoder().encode(task)
        #expect(encoded == EncodedRecord(fields: ["name": "Paint", "estimate": 3], lists: ["labels": ["b", "a"]]),
                "superclass properties are flattened into the record")
        let decoded = try RecordDecoder().decode(Chore.self, from: Self.view(encoded, id: .random()))
        #expect(decoded.name == "Paint" && decoded.labels == ["b", "a"] && decoded.estimate == 3)

        let page = Page(id: "home", keywords: Keywords(["z", "a"]), ratings: [5, nil])
        let pageRecord = try RecordEncoder().encode(page)
        #expect(pageRecord == EncodedRecord(fields: ["id": "home"], lists: ["keywords": ["z", "a"], "ratings": [5, .null]]))
        #expect(try Self.roundTrip(page, id: .random()) == page)

        // Without an `id` field, a String id reads the record's id as UUID text.
        let bare = RecordView(id: .random(), sets: ["keywords": ["k"]])
        #expect(try RecordDecoder().decode(Page.self, from: bare).id == bare.id.uuidString)
    }

    // MARK: Sets

    struct Labels: Codable, Equatable {
        var names: [String]
        var scores: [Int]
        var flags: Set<Bool>
    }

    @Test func setsAreDeduplicatedListsKeepOrderAndDuplicates() throws {
        let labels = Labels(names: ["b", "a", "b", "c", "a"], scores: [3, 1, 3, -2], flags: [true, false])
        let encoded = try RecordEncoder().encode(labels)
        #expect(encoded.fields.isEmpty)
        #expect(encoded.sets == ["flags": [false, true]])
        #expect(encoded.lists == ["names": ["b", "a", "b", "c", "a"], "scores": [3, 1, 3, -2]])
        #expect(try Self.roundTrip(labels, id: .random()) == labels)

        let empty = try RecordEncoder().encode(Labels(names: [], scores: [], flags: []))
        #expect(empty.sets == ["flags": []] && empty.lists == ["names": [], "scores": []], "empty tells the caller to clear it")

        // A set stored by an earlier version (plain members) reads in value order.
        let legacy = RecordView(id: .random(), sets: ["names": ["b", "a"], "scores": [2], "flags": [true]])
        #expect(try RecordDecoder().decode(Labels.self, from: legacy) == Labels(names: ["a", "b"], scores: [2], flags: [true]))
    }

    // MARK: Errors

    struct Counter: Codable {
        var count: UInt64
    }

    @Test func integerOverflowIsAClearEncodingError() throws {
        let error = #expect(throws: EncodingError.self) { try RecordEncoder().encode(Counter(count: .max)) }
        let context = try #require(Self.context(error))
        #expect(Self.path(context.codingPath) == ["count"])
        #expect(context.debugDescription.hasPrefix("field 'count': UInt64 18446744073709551615 does not fit a Concord int (Int64)"))

        struct Sizes: Codable { var sizes: [UInt] }
        let inSet = #expect(throws: EncodingError.self) { try RecordEncoder().encode(Sizes(sizes: [1, .max])) }
        #expect(Self.context(inSet)?.debugDescription.contains("does not fit a Concord int (Int64)") == true)
    }

    @Test func typeMismatchNamesTheFieldAndBothTypes() throws {
        var fields = try RecordEncoder().encode(Self.todo()).fields
        fields["priority"] = "high"
        let record = RecordView(id: .random(), fields: fields.map { RecordView.Field(name: $0.key, value: $0.value) }, sets: [])
        let error = #expect(throws: DecodingError.self) { try RecordDecoder().decode(Todo.self, from: record) }
        guard case .typeMismatch(let type, let context)? = error else {
            Issue.record("expected typeMismatch, got \(String(describing: error))")
            return
        }
        #expect(type is Int.Type)
        #expect(Self.path(context.codingPath) == ["priority"])
        #expect(context.debugDescription.hasPrefix("field 'priority' holds string \"high\" but the model wants Int"))
    }

    struct Event: Codable { var at: Date }

    @Test func decodingErrorsSayWhatToChange() throws {
        let missing = RecordView(id: .random(), fields: ["title": "x"])
        #expect(try RecordDecoder().decode(Counter.self, from: missing).count == 0, "a missing number reads 0")
        let error = #expect(throws: DecodingError.self) { try RecordDecoder().decode(Event.self, from: missing) }
        guard case .keyNotFound(let key, let context)? = error else {
            Issue.record("expected keyNotFound, got \(String(describing: error))")
            return
        }
        #expect(key.stringValue == "at" && context.debugDescription.contains("make the property optional"))
        #expect(context.debugDescription.contains("recordDefaults"))

        struct Small: Codable { var count: UInt8 }
        let tooBig = RecordView(id: .random(), fields: ["count": 300])
        let overflow = #expect(throws: DecodingError.self) { try RecordDecoder().decode(Small.self, from: tooBig) }
        guard case .dataCorrupted(let overflowContext)? = overflow else {
            Issue.record("expected dataCorrupted, got \(String(describing: overflow))")
            return
        }
        #expect(overflowContext.debugDescription.hasPrefix("field 'count': int 300 does not fit UInt8"))

        struct Board: Codable { var notes: [Todo.Note] }
        let badJSON = RecordView(id: .random(), fields: ["notes": .string(#"[{"text":"no pin"}]"#)])
        let json = #expect(throws: DecodingError.self) { try RecordDecoder().decode(Board.self, from: badJSON) }
        guard case .keyNotFound(let jsonKey, let jsonContext)? = json else {
            Issue.record("expected keyNotFound, got \(String(describing: json))")
            return
        }
        #expect(jsonKey.stringValue == "pinned" && Self.path(jsonContext.codingPath).first == "notes")
        #expect(jsonContext.debugDescription.hasPrefix("field 'notes' holds JSON that does not decode as Array<Note>"))
    }

    @Test func topLevelMustBeKeyed() throws {
        for encode in [{ try RecordEncoder().encode(42) }, { try RecordEncoder().encode(["a", "b"]) },
                       { try RecordEncoder().encode(["k": 1]) }, { try RecordEncoder().encode(Optional(Counter(count: 1))) }] {
            let error = #expect(throws: EncodingError.self) { _ = try encode() }
            #expect(Self.context(error)?.debugDescription.contains("a Concord record is keyed") == true)
        }
        let record = RecordView(id: .random(), fields: ["count": 1])
        let error = #expect(throws: DecodingError.self) { try RecordDecoder().decode(Int.self, from: record) }
        guard case .typeMismatch(_, let context)? = error else {
            Issue.record("expected typeMismatch, got \(String(describing: error))")
            return
        }
        #expect(context.debugDescription.contains("a Concord record is keyed"))
        #expect(throws: DecodingError.self) { try RecordDecoder().decode([String].self, from: record) }
        #expect(throws: DecodingError.self) { try RecordDecoder().decode([String: Int].self, from: record) }
    }

    @Test func recordIDCodesAsUUIDText() throws {
        let id = try RecordID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
        let json = try JSONEncoder().encode([id])
        #expect(String(decoding: json, as: UTF8.self) == #"["E621E1F8-C36C-495A-93FC-0C247A3E6E5F"]"#)
        #expect(try JSONDecoder().decode([RecordID].self, from: json) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([RecordID].self, from: Data(#"["nope"]"#.utf8)) }
    }
}
