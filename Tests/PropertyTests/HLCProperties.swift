import ConcordCore
import ConcordTesting
import Testing

/// Hybrid logical clock properties over random message exchanges between clocks with
/// skewed, sometimes backward-stepping physical clocks, checked against vector clocks.
@Suite struct HLCProperties {
    struct Event {
        var hlc: HLCTimestamp
        var vector: [Int]  // happened-before ground truth
    }

    static func happenedBefore(_ a: [Int], _ b: [Int]) -> Bool {
        zip(a, b).allSatisfy { $0 <= $1 } && a != b
    }

    @Test func monotonicAndConsistentWithHappenedBefore() throws {
        try PropertyRunner.check("HLC monotonic and consistent with happened-before") { rng in
            let n = Int.random(in: 2...5, using: &rng)
            var clocks = (0..<n).map { _ in HybridLogicalClock() }
            var vectors = Array(repeating: Array(repeating: 0, count: n), count: n)
            var physical = (0..<n).map { _ in UInt64(1_700_000_000_000) + UInt64.random(in: 0...2_000, using: &rng) }
            var events = [Event]()
            var lastOf = Array(repeating: HLCTimestamp.zero, count: n)
            var inFlight = [(to: Int, hlc: HLCTimestamp, vector: [Int])]()
            for _ in 0..<60 {
                let i = Int.random(in: 0..<n, using: &rng)
                // Physical clocks mostly advance, sometimes stall or step back.
                physical[i] = UInt64(Int64(physical[i]) + Int64.random(in: -3...5, using: &rng))
                vectors[i][i] += 1
                let hlc: HLCTimestamp
                if !inFlight.isEmpty && rng.chance(0.4), let m = inFlight.indices.filter({ inFlight[$0].to == i }).randomElement(using: &rng) {
                    let message = inFlight.remove(at: m)
                    hlc = try clocks[i].receive(message.hlc, physical: physical[i])
                    vectors[i] = zip(vectors[i], message.vector).map { max($0, $1) }
                } else {
                    hlc = try clocks[i].now(physical: physical[i])
                    if rng.chance(0.5) {
                        var to = Int.random(in: 0..<(n - 1), using: &rng)
                        if to >= i { to += 1 }
                        inFlight.append((to, hlc, vectors[i]))
                    }
                }
                guard hlc > lastOf[i] else { throw PropertyViolation("monotonic: \(hlc) <= \(lastOf[i])") }
                guard hlc.milliseconds >= physical[i] else { throw PropertyViolation("physical bound: \(hlc) behind physical \(physical[i])") }
                lastOf[i] = hlc
                events.append(Event(hlc: hlc, vector: vectors[i]))
            }
            for a in events {
                for b in events where Self.happenedBefore(a.vector, b.vector) && !(a.hlc < b.hlc) {
                    throw PropertyViolation("consistent with happened-before: e1 -> e2 but hlc \(a.hlc) >= \(b.hlc)")
                }
            }
        }
    }

    @Test func driftBeyondTheBoundIsRejectedAndWithinIsAccepted() throws {
        try PropertyRunner.check("HLC drift rejection") { rng in
            let maxDrift = UInt64.random(in: 1...600_000, using: &rng)
            let physical = UInt64(1_700_000_000_000) + UInt64.random(in: 0...1_000_000, using: &rng)
            var clock = HybridLogicalClock(maxDrift: maxDrift)
            _ = try clock.now(physical: physical - 10)
            let before = clock.last
            let ahead = UInt64.random(in: 0...(2 * maxDrift), using: &rng)
            let remote = HLCTimestamp(milliseconds: physical + ahead, counter: UInt16.random(in: 0...9, using: &rng))
            do {
                let t = try clock.receive(remote, physical: physical)
                guard ahead <= maxDrift, t > remote, t > before else { throw PropertyViolation("drift: accepted \(ahead) ms ahead with bound \(maxDrift)") }
            } catch let error as ConcordCoreError {
                guard error.code == .clockDriftExceeded, ahead > maxDrift, clock.last == before else {
                    throw PropertyViolation("drift: rejected \(ahead) ms ahead with bound \(maxDrift), or changed the clock")
                }
            }
        }
    }
}
