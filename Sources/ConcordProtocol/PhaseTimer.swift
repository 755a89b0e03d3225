/// Wall-clock seconds per named phase of a longer operation, for the benchmarks that break
/// one down (`concord-bench --suite new-device`: a snapshot's load, `Specs/snapshots.md` §7).
///
/// ```swift
/// var phases: [String: Double] = [:]
/// var timer = PhaseTimer()
/// decode()
/// timer.lap("decode", into: &phases)     // seconds since the timer started
/// insert()
/// timer.lap("insert", into: &phases)     // since the previous lap; laps of one name add up
/// ```
package struct PhaseTimer: Sendable {
    private var last = ContinuousClock.now

    /// Starts timing now.
    package init() {}

    /// Adds the time since the previous lap (or the start) to `phases[name]`.
    /// - Parameters:
    ///   - name: The phase.
    ///   - phases: Seconds per phase.
    package mutating func lap(_ name: String, into phases: inout [String: Double]) {
        let now = ContinuousClock.now
        let elapsed = last.duration(to: now)
        phases[name, default: 0] += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        last = now
    }
}
