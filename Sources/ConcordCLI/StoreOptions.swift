import ArgumentParser
import Concord
import Foundation

/// `--store DIR`, shared by every command.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The replica directory (default: $CONCORD_STORE, else ./.concord).", valueName: "DIR"))
    var store: String?

    /// The directory: `--store`, else `$CONCORD_STORE`, else `./.concord`.
    var path: String {
        if let store { return store }
        if let env = ProcessInfo.processInfo.environment["CONCORD_STORE"], !env.isEmpty { return env }
        return "./.concord"
    }

    /// Opens the existing replica.
    func open() throws -> Replica {
        do {
            return try Replica.open(at: path, options: Self.replicaOptions)
        } catch let error as ConcordError where error.code == .noReplica {
            // Only when the directory holds none of a replica's files: a damaged one
            // (.storeDamaged) keeps its own message, which never suggests `init`.
            throw CLIFailure(message: "no replica in \(path); create one with `concord init` or join a space with `concord join TOKEN` (choose the directory with --store DIR or $CONCORD_STORE)")
        }
    }
}

extension StoreOptions {
    /// The replica options of every command: the system clock, shifted by
    /// `CONCORD_CLOCK_OFFSET_MS` milliseconds when set (negative: behind). The variable
    /// exists to test what wrong clocks do (`Specs/hlc.md` §9); it is never needed in use.
    static var replicaOptions: Replica.Options {
        var options = Replica.Options()
        if let text = ProcessInfo.processInfo.environment["CONCORD_CLOCK_OFFSET_MS"], let offset = Int64(text) {
            options.physicalClock = ShiftedClock(offset: offset)
        }
        return options
    }
}

/// Parsing of command-line words into ids and values.
enum Parse {
    static func id(_ text: String) throws -> RecordID {
        do {
            return try RecordID(uuidString: text)
        } catch {
            throw CLIFailure(message: "\"\(text)\" is not a record id; ids are UUIDs like E621E1F8-C36C-495A-93FC-0C247A3E6E5F (make one with `concord new-id`)")
        }
    }

    /// `FIELD=JSON`.
    static func assignment(_ text: String) throws -> (String, Value) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw CLIFailure(message: "\"\(text)\" is not FIELD=JSON; write for example title='\"Buy milk\"' or count=3")
        }
        let field = String(text[..<equals])
        return (field, try value(String(text[text.index(after: equals)...]), field: field))
    }

    /// A JSON scalar: integers become int64, other numbers doubles.
    static func value(_ raw: String, field: String? = nil) throws -> Value {
        let text = raw.trimmingCharacters(in: .whitespaces)
        switch text {
        case "null": return .null
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        if text.hasPrefix("\"") {
            if let strings = try? JSONDecoder().decode([String].self, from: Data("[\(text)]".utf8)), strings.count == 1 {
                return .string(strings[0])
            }
            throw CLIFailure(message: "\(text) is not a valid JSON string\(field.map { " for field \($0)" } ?? ""); close the quotes and escape \\ and \" inside")
        }
        if isJSONNumber(text) {
            if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                guard let int = Int64(text) else {
                    throw CLIFailure(message: "\(text) is outside the int64 range; write it as a double (\(text).0) or a string")
                }
                return .int(int)
            }
            if let double = Double(text), double.isFinite { return .double(double) }
            throw CLIFailure(message: "\(text) is outside the range of a double")
        }
        throw CLIFailure(message: "\(raw.isEmpty ? "an empty value" : raw) is not a JSON scalar\(field.map { " (field \($0))" } ?? ""); use 42, 1.5, true, false, null or a quoted string such as '\"Buy milk\"'")
    }

    /// The JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    static func isJSONNumber(_ text: String) -> Bool {
        var chars = Array(text.utf8)[...]
        func digits() -> Int {
            var n = 0
            while let c = chars.first, c >= 48, c <= 57 { chars.removeFirst(); n += 1 }
            return n
        }
        if chars.first == UInt8(ascii: "-") { chars.removeFirst() }
        if chars.first == UInt8(ascii: "0") {
            chars.removeFirst()
        } else if digits() == 0 {
            return false
        }
        if chars.first == UInt8(ascii: ".") {
            chars.removeFirst()
            if digits() == 0 { return false }
        }
        if chars.first == UInt8(ascii: "e") || chars.first == UInt8(ascii: "E") {
            chars.removeFirst()
            if chars.first == UInt8(ascii: "+") || chars.first == UInt8(ascii: "-") { chars.removeFirst() }
            if digits() == 0 { return false }
        }
        return chars.isEmpty
    }
}
