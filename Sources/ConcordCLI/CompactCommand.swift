import ArgumentParser
import Concord
import ConcordRelay
import Foundation

/// `concord compact` (`Specs/snapshots.md` §5.1): rebase onto the latest snapshot sealed or
/// verified here, drop the log below it, and print what was reclaimed.
struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Drop the log below this device's latest verified snapshot and print what was reclaimed.",
        discussion: """
            Needs a snapshot this device sealed (`concord snapshot seal`, admins) or verified \
            (`concord snapshot verify`). Bundles at or below its vector whose newest write is \
            older than the history horizon are dropped (their ids are kept, so forks are still \
            detected); control bundles, this device's unacknowledged bundles and each author's \
            latest data bundle stay. History before the floor shows what the snapshot shows.

            Examples:
              concord compact --dry-run
              concord compact --history-horizon 0 --json
              concord compact --history-horizon 7d
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Keep bundles newer than this for history: 30d (default), 12h, 90m, 45s, 0 for none, or forever.")
    var historyHorizon: String = "30d"
    @Flag(help: "Print what would be reclaimed; change nothing.") var dryRun = false
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        guard let horizon = try Self.parseHorizon(historyHorizon) else {
            print("nothing to compact: --history-horizon forever keeps every bundle")
            return
        }
        let replica = try options.open()
        let report = try await replica.compact(historyHorizon: horizon, dryRun: dryRun)
        if json {
            print(Self.json(report))
            return
        }
        let when = CalendarTime.text(report.madeAt.milliseconds)
        let verb = report.dryRun ? "would compact" : "compacted"
        print(
            """
            \(verb) to snapshot \(report.snapshot.hex.prefix(4))…\(report.snapshot.hex.suffix(4)) (\(when), \(report.verified ? "verified" : "provisional"))
              bundles dropped   \(report.bundlesDropped) (\(Self.bytes(report.bytesDropped))), kept \(report.bundlesKept) (within \(historyHorizon)) and \(report.controlBundles) control
              tombstones pruned \(report.tombstonesPruned); hidden records reduced to stubs \(report.stubs)
              replica.sqlite    \(Self.bytes(report.bytesBefore)) -> \(Self.bytes(report.bytesAfter))\(report.dryRun ? " (estimate)" : " (VACUUM)")
            """)
    }

    /// The `--json` object of `Specs/snapshots.md` §5.1, keys sorted.
    static func json(_ report: CompactionReport) -> String {
        JSONText.object([
            ("bundles_dropped", String(report.bundlesDropped)), ("bundles_kept", String(report.bundlesKept)),
            ("bytes_after", String(report.bytesAfter)), ("bytes_before", String(report.bytesBefore)),
            ("control_bundles", String(report.controlBundles)), ("snapshot", JSONText.string(report.snapshot.hex)),
            ("stubs", String(report.stubs)), ("tombstones_pruned", String(report.tombstonesPruned)),
        ])
    }

    /// `30d`, `12h`, `90m`, `45s`, `0`, or `forever` (nil: nothing is dropped), read as the
    /// relay reads `--retention` (`RetentionPeriod`).
    static func parseHorizon(_ text: String) throws -> Duration? {
        let period: RetentionPeriod
        do {
            period = try RetentionPeriod(parsing: text)
        } catch {
            throw ValidationError("--history-horizon \(text) is not a duration: write 30d, 12h, 90m, 45s, 0 or forever")
        }
        return period.milliseconds.map { .milliseconds(Int64(clamping: $0)) }
    }

    /// `1.9 GB`, `61 MB`, `812 KB`, `93 B`.
    static func bytes(_ count: Int) -> String {
        let units: [(Double, String)] = [(1e9, "GB"), (1e6, "MB"), (1e3, "KB")]
        for (size, name) in units where Double(count) >= size {
            let value = Double(count) / size
            return value < 10 ? "\(String(format: "%.1f", value)) \(name)" : "\(Int(value.rounded())) \(name)"
        }
        return "\(count) B"
    }
}
