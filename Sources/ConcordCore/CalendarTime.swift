/// Milliseconds since the Unix epoch written as a UTC calendar date, without Foundation:
/// what clock messages show people ("2026-12-06 10:15 UTC"), never raw numbers.
///
/// ```swift
/// CalendarTime.text(1_796_552_100_000)          // "2026-12-06 10:15 UTC"
/// CalendarTime.text(946_684_800_000, seconds: true)  // "2000-01-01 00:00:00 UTC"
/// ```
public enum CalendarTime {
    /// The UTC date and time of `milliseconds` since 1970-01-01T00:00:00Z.
    /// - Parameters:
    ///   - milliseconds: The instant.
    ///   - seconds: Also show seconds.
    /// - Returns: `YYYY-MM-DD HH:MM UTC` (or `HH:MM:SS`).
    /// - Complexity: O(1) (Hinnant's days-to-civil algorithm).
    public static func text(_ milliseconds: UInt64, seconds: Bool = false) -> String {
        let totalSeconds = milliseconds / 1000
        let days = Int64(totalSeconds / 86_400)
        let secondOfDay = Int(totalSeconds % 86_400)
        let (year, month, day) = civil(fromDays: days)
        var text = "\(year)-\(two(month))-\(two(day)) \(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60))"
        if seconds { text += ":\(two(secondOfDay % 60))" }
        return text + " UTC"
    }

    /// The calendar date of `milliseconds` alone: `YYYY-MM-DD`.
    public static func date(_ milliseconds: UInt64) -> String {
        let (year, month, day) = civil(fromDays: Int64(milliseconds / 1000 / 86_400))
        return "\(year)-\(two(month))-\(two(day))"
    }

    /// A duration in words for messages: `3 minutes`, `26 hours`, `412 days`, `25 years`.
    public static func duration(_ milliseconds: UInt64) -> String {
        let minutes = milliseconds / 60_000
        if minutes < 1 { return "\(milliseconds / 1000) seconds" }
        if minutes < 120 { return "\(minutes) minute\(minutes == 1 ? "" : "s")" }
        let hours = minutes / 60
        if hours < 72 { return "\(hours) hours" }
        let days = hours / 24
        if days < 730 { return "\(days) days" }
        return "\(days / 365) years"
    }

    /// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 (proleptic
    /// Gregorian calendar).
    static func civil(fromDays days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

extension HLCTimestamp {
    /// The reading's physical part as a UTC date and time, for messages:
    /// `2026-12-06 10:15 UTC`.
    public var calendarText: String { CalendarTime.text(milliseconds) }
}
