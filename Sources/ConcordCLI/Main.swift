import ArgumentParser
import Foundation

/// Parses, runs, and maps every error to `concord: <message>` and a documented status.
@main
enum Main {
    static func main() async {
        do {
            var command = try ConcordCommand.parseAsRoot(hoistingStoreOption(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(CLIFailure.report(error))
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
        // Groups whose subcommands take --store: `concord --store DIR peer serve`.
        if subcommand == "peer", rest.count >= 2, !rest[1].hasPrefix("-") {
            return Array(rest.prefix(2)) + moved + rest.dropFirst(2)
        }
        return [subcommand] + moved + rest.dropFirst()
    }
}
