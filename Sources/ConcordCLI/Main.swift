import ArgumentParser
import Foundation
import Logging

/// Parses, runs, and maps every error to `concord: <message>` and a documented status.
@main
enum Main {
    static func main() async {
        bootstrapLogging()
        do {
            let arguments = packingAssignments(hoistingStoreOption(Array(CommandLine.arguments.dropFirst())))
            var command = try ConcordCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(CLIFailure.report(error))
        }
    }

    /// `CONCORD_LOG=LEVEL[:LABEL]` (LEVEL one of trace, debug, info, notice, warning, error,
    /// critical) sends the library's logs at that level and above to standard error; with a
    /// label prefix, only those loggers go below info (`CONCORD_LOG=debug:concord.discovery
    /// concord sync --lan` shows what discovery sends and hears). Unset: swift-log's default.
    static func bootstrapLogging() {
        guard let text = ProcessInfo.processInfo.environment["CONCORD_LOG"], !text.isEmpty else { return }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let level = Logger.Level(rawValue: parts[0].lowercased()) else {
            let message =
                "concord: CONCORD_LOG=\(text) does not start with a level "
                + "(trace, debug, info, notice, warning, error, critical); logging stays at info\n"
            FileHandle.standardError.write(Data(message.utf8))
            return
        }
        let prefix = parts.count > 1 ? parts[1] : ""
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = label.hasPrefix(prefix) ? level : max(level, .info)
            return handler
        }
    }

    /// Accepts `--store DIR` before the subcommand too (`concord --store DIR put ...`) by
    /// moving it after the subcommand's name, where every subcommand declares it.
    static func hoistingStoreOption(_ arguments: [String]) -> [String] {
        var rest = arguments
        var moved: [String] = []
        while let first = rest.first, first == "--store" || first.hasPrefix("--store=") {
            if first == "--store" {
                guard rest.count >= 2 else { break }
                moved += rest.prefix(2)
                rest.removeFirst(2)
            } else {
                moved.append(first)
                rest.removeFirst()
            }
        }
        guard !moved.isEmpty, let subcommand = rest.first, !subcommand.hasPrefix("-") else { return arguments }
        // Groups whose subcommands take --store: `concord --store DIR peer serve`, `policy
        // set`, `member stale`, `snapshot seal`.
        if ["peer", "policy", "member", "snapshot"].contains(subcommand), rest.count >= 2, !rest[1].hasPrefix("-") {
            return Array(rest.prefix(2)) + moved + rest.dropFirst(2)
        }
        return [subcommand] + moved + rest.dropFirst()
    }

    /// `put`'s `FIELD=JSON` words joined into one, separated by NUL (which no
    /// command-line argument can contain); ``Put`` splits them again.
    ///
    /// swift-argument-parser spends time proportional to the values already parsed on
    /// each further positional value, so `put` with n fields was O(n²): 4,000 fields took
    /// 6.8 s (90 s in a debug build), nearly all of it in the parser. Handing it one word
    /// keeps `put` linear in its fields. The positional words (collection, id, fields)
    /// are moved after the options, behind a `--`, in their order; options keep theirs.
    /// Other commands are returned unchanged.
    static func packingAssignments(_ arguments: [String]) -> [String] {
        guard arguments.first == "put" else { return arguments }
        var options: [String] = []
        var positional: [String] = []
        var index = 1
        var afterTerminator = false
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if afterTerminator || !word.hasPrefix("-") || word == "-" {
                positional.append(word)
            } else if word == "--" {
                afterTerminator = true
            } else {
                options.append(word)
                if word == "--store", index < arguments.count {
                    options.append(arguments[index])
                    index += 1
                }
            }
        }
        guard !positional.isEmpty else { return ["put"] + options }
        let fields = positional.dropFirst(2)
        return ["put"] + options + ["--"] + positional.prefix(2) + (fields.isEmpty ? [] : [fields.joined(separator: String(Put.separator))])
    }
}
