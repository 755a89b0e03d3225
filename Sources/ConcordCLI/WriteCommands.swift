import ArgumentParser
import Concord

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set last-writer-wins fields of a record (creating it if needed).",
        discussion: """
            Each FIELD=JSON takes a JSON scalar: an integer (int64), another number (a \
            double), a quoted string, true, false or null. Quote for the shell.

            Examples:
              concord put todos E621E1F8-C36C-495A-93FC-0C247A3E6E5F title='"Buy milk"' done=false
              concord put people "$id" name='"Ada"' age=36 height=1.68
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String
    @Argument(help: "FIELD=JSON assignments.") var assignments: [String] = []

    /// Separates the assignments `Main.packingAssignments` joined into one word.
    static let separator: Character = "\u{0}"

    /// Each `FIELD=JSON` word, as typed.
    var words: [String] {
        assignments.flatMap { $0.split(separator: Self.separator, omittingEmptySubsequences: false).map(String.init) }
    }

    func validate() throws {
        if assignments.isEmpty { throw ValidationError("give at least one FIELD=JSON, for example title='\"Buy milk\"'") }
    }

    func run() async throws {
        let record = try Parse.id(id)
        let fields = try words.map(Parse.assignment)
        let replica = try options.open()
        let collection = self.collection
        try await replica.write { tx in
            for (field, value) in fields { try tx.set(field, to: value, record: record, in: collection) }
        }
    }
}

struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a member to an add-wins set field.",
        discussion: """
            Examples:
              concord add todos "$id" tags '"errand"'
              concord add todos "$id" assignees 42
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String
    @Argument(help: "The set field.") var field: String
    @Argument(help: "The member, a JSON scalar.") var value: String

    func run() async throws {
        let record = try Parse.id(id)
        let member = try Parse.value(value, field: field)
        let replica = try options.open()
        let (collection, field) = (self.collection, self.field)
        try await replica.write { tx in try tx.add(member, to: field, record: record, in: collection) }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a member from an add-wins set field (a concurrent add wins).",
        discussion: """
            Examples:
              concord remove todos "$id" tags '"errand"'
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String
    @Argument(help: "The set field.") var field: String
    @Argument(help: "The member, a JSON scalar.") var value: String

    func run() async throws {
        let record = try Parse.id(id)
        let member = try Parse.value(value, field: field)
        let replica = try options.open()
        let (collection, field) = (self.collection, self.field)
        try await replica.write { tx in try tx.remove(member, from: field, record: record, in: collection) }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a record (writes that did not see the delete bring it back).",
        discussion: """
            Examples:
              concord delete todos E621E1F8-C36C-495A-93FC-0C247A3E6E5F
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String

    func run() async throws {
        let record = try Parse.id(id)
        let replica = try options.open()
        let collection = self.collection
        try await replica.write { tx in try tx.delete(record: record, in: collection) }
    }
}
