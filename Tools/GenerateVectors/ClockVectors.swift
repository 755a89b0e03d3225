// Specs/vectors/hlc.jsonl: sequences of clock events (Specs/hlc.md section 3) run through
// the real HybridLogicalClock with explicit physical times. Each case starts from `last`
// with a drift bound; each step is a call (`now`, `receive` or `observe`) at physical time
// `pt_ms`, and records what it returned or threw and the clock's `last` afterwards (a
// throwing call leaves `last` unchanged). Readings and times are decimal strings: raw
// readings exceed 2^53.
import ConcordCore

enum ClockStep {
    case now(pt: UInt64)
    case receive(HLCTimestamp, pt: UInt64)
    case observe(HLCTimestamp, pt: UInt64)
}

/// A reading from milliseconds and counter.
func reading(_ ms: UInt64, _ counter: UInt16 = 0) -> HLCTimestamp { HLCTimestamp(milliseconds: ms, counter: counter) }

@MainActor var clockLines: [String] = []

@MainActor func clockCase(_ name: String, _ description: String, last: HLCTimestamp = .zero,
                          maxDrift: UInt64 = HybridLogicalClock.defaultMaxDrift, _ steps: [ClockStep]) {
    var clock = HybridLogicalClock(physicalClock: FixedClock(milliseconds: 0), maxDrift: maxDrift, last: last)
    var rendered: [JSON] = []
    for step in steps {
        var pairs: [(String, JSON)] = []
        var result: HLCTimestamp?
        let code = errorCode {
            switch step {
            case .now(let pt):
                pairs = [("call", .string("now")), ("pt_ms", .string(String(pt)))]
                result = try clock.now(physical: pt)
            case .receive(let remote, let pt):
                pairs = [("call", .string("receive")), ("pt_ms", .string(String(pt))), ("remote", .string(String(remote.rawValue)))]
                result = try clock.receive(remote, physical: pt)
            case .observe(let remote, let pt):
                pairs = [("call", .string("observe")), ("pt_ms", .string(String(pt))), ("remote", .string(String(remote.rawValue)))]
                try clock.observe(remote, physical: pt)
            }
        }
        pairs.append(("expected", .string(code ?? "valid")))
        if let result { pairs.append(("result", .string(String(result.rawValue)))) }
        pairs.append(("last", .string(String(clock.last.rawValue))))
        rendered.append(.object(pairs))
    }
    clockLines.append(line([("name", .string(name)), ("description", .string(description)),
                            ("max_drift_ms", .string(String(maxDrift))), ("last", .string(String(last.rawValue))),
                            ("steps", .array(rendered))]))
}

@MainActor func addClockVectors() {
    let t: UInt64 = 1_700_000_000_000
    let drift = HybridLogicalClock.defaultMaxDrift
    clockCase("send_follows_physical_time", "now(): a physical time ahead of last starts its millisecond at counter 0; the same or an earlier physical time counts up within last's millisecond", [
        .now(pt: t), .now(pt: t), .now(pt: t), .now(pt: t - 5), .now(pt: t + 1), .now(pt: t + 1),
    ])
    clockCase("counter_exhaustion_borrows_the_next_millisecond", "an exhausted counter borrows the next millisecond (counter 0) instead of wrapping",
              last: reading(t, 65534), [.now(pt: t), .now(pt: t), .now(pt: t)])
    clockCase("borrowing_reaches_the_drift_bound", "borrowing may reach exactly pt + max_drift_ms",
              last: reading(t + drift - 1, 65535), [.now(pt: t)])
    clockCase("borrowing_beyond_the_drift_bound_fails", "an exhausted counter at pt + max_drift_ms cannot borrow: clockCounterOverflow, last unchanged",
              last: reading(t + drift, 65535), [.now(pt: t), .now(pt: t + 1)])
    clockCase("receive_rules", "the four branches of receive: equal milliseconds take the larger counter + 1; last ahead counts on from last; a remote reading ahead counts on from it; physical time ahead starts at counter 0",
              last: reading(t, 5), [
                  .receive(reading(t, 9), pt: t - 100), .receive(reading(t, 3), pt: t - 100),
                  .receive(reading(t + 200, 7), pt: t + 100), .receive(reading(t + 100), pt: t + 300),
                  .receive(reading(t + 250, 3), pt: t + 250),
              ])
    clockCase("receive_drift_bound_is_inclusive", "a remote reading exactly max_drift_ms ahead is accepted whatever its counter; one millisecond more is clockDriftExceeded and leaves last unchanged", [
        .receive(reading(t + drift, 65534), pt: t), .receive(reading(t + drift + 1), pt: t),
    ])
    clockCase("receive_at_the_bound_with_an_exhausted_counter", "a reading at the drift bound with counter 65535 is accepted by the drift check but has no successor within the bound: clockCounterOverflow, last unchanged", [
        .receive(reading(t + drift, 65535), pt: t), .now(pt: t),
    ])
    clockCase("observe_merges_without_an_event", "observe keeps the larger reading without counting; beyond the drift bound it is clockDriftExceeded; it does not check physical time against 48 bits",
              last: reading(t, 2), [
                  .observe(reading(t - 1, 9), pt: t), .observe(reading(t + drift, 9), pt: t),
                  .observe(reading(t + drift + 1), pt: t), .observe(reading(t + 1), pt: 1 << 48), .now(pt: t),
              ])
    clockCase("physical_time_beyond_48_bits", "now and receive reject a physical time above 2^48 - 1 with physicalClockOutOfRange; 2^48 - 1 itself is accepted", [
        .now(pt: 1 << 48), .receive(reading(t), pt: 1 << 48), .now(pt: (1 << 48) - 1),
    ])
    clockCase("unlimited_drift_saturates", "max_drift_ms = 2^64 - 1 means no bound: pt + max_drift_ms saturates instead of wrapping",
              maxDrift: .max, [.receive(reading(t + 86_400_000), pt: t), .observe(reading(t + 2 * 86_400_000), pt: t)])
}
