import Foundation

/// How long a relay keeps data bundles below the latest snapshot (`Specs/snapshots.md`
/// §5.2, ``RelayConfiguration/retention``): a number of milliseconds, or for ever.
///
/// ```swift
/// configuration.retention = try RetentionPeriod(parsing: "30d")   // also "12h", "90m", "45s", "0", "forever"
/// configuration.retention = .forever                              // never drop a bundle
/// ```
public struct RetentionPeriod: Sendable, Hashable, CustomStringConvertible {
    /// The period in milliseconds; nil for ever.
    public let milliseconds: UInt64?

    /// A period of `milliseconds` (0: drop what a snapshot covers at once).
    /// - Parameters:
    ///   - milliseconds: The period.
    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }

    private init(forever: Void) { self.milliseconds = nil }

    /// Keep every bundle for ever: the relay never drops one.
    public static let forever = RetentionPeriod(forever: ())

    /// A period of `days` days.
    /// - Parameters:
    ///   - days: How many days.
    public static func days(_ days: UInt64) -> RetentionPeriod { RetentionPeriod(milliseconds: days * 86_400_000) }

    /// Parses `forever`, `0`, or a whole number followed by `d` (days), `h`, `m` or `s`.
    /// - Parameters:
    ///   - text: For example `30d`.
    /// - Throws: ``RelayError`` ``RelayError/Code/configuration`` naming what to write instead.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "forever" {
            self = .forever
            return
        }
        if trimmed == "0" {
            self.init(milliseconds: 0)
            return
        }
        let units: [Character: UInt64] = ["d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000]
        guard let unit = trimmed.last, let scale = units[unit], let count = UInt64(trimmed.dropLast()),
            case let (value, overflow) = count.multipliedReportingOverflow(by: scale), !overflow
        else {
            throw RelayError.configuration(
                "retention \(text) is not a period: write a whole number with d, h, m or s (30d, 12h), 0 (drop at once) or forever")
        }
        self.init(milliseconds: value)
    }

    /// `30d`, `12h`, `0` or `forever`, as ``init(parsing:)`` reads it.
    public var description: String {
        guard let milliseconds else { return "forever" }
        if milliseconds == 0 { return "0" }
        for (unit, scale) in [("d", UInt64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] where milliseconds % scale == 0 {
            return "\(milliseconds / scale)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
