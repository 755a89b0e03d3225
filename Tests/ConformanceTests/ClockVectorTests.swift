import ConcordCore
import Foundation
import Testing

/// `Specs/vectors/hlc.jsonl` (`Specs/hlc.md` section 3): each case starts a
/// `HybridLogicalClock` at `last` with `max_drift_ms` and runs its steps with explicit
/// physical times; every step must return (or throw) what the case says and leave the
/// stated `last`.
@Suite struct ClockVectorTests {
    @Test func everyClockVectorConforms() throws {
        let cases = try VectorConformanceTests.load("hlc.jsonl", withExpected: false)
        #expect(cases.count >= 10)
        var steps = 0
        for v in cases {
            let maxDrift = try #require(UInt64(try v.string("max_drift_ms")))
            var clock = HybridLogicalClock(physicalClock: FixedClock(milliseconds: 0), maxDrift: maxDrift,
                                           last: HLCTimestamp(rawValue: try #require(UInt64(try v.string("last")))))
            for (index, json) in try v.array("steps").enumerated() {
                let step = Vector(name: "\(v.name) step \(index)", expected: json["expected"] as? String ?? "", json: json)
                let pt = try #require(UInt64(try step.string("pt_ms")))
                var result: HLCTimestamp?
                var code = "valid"
                do {
                    switch try step.string("call") {
                    case "now": result = try clock.now(physical: pt)
                    case "receive": result = try clock.receive(HLCTimestamp(rawValue: try #require(UInt64(try step.string("remote")))), physical: pt)
                    case "observe": try clock.observe(HLCTimestamp(rawValue: try #require(UInt64(try step.string("remote")))), physical: pt)
                    case let call: throw Mismatch(message: "\(step.name): unknown call \(call)")
                    }
                } catch let error as ConcordCoreError {
                    code = error.code.description
                }
                #expect(code == step.expected, "\(step.name)")
                #expect(result.map { String($0.rawValue) } == json["result"] as? String, "\(step.name): result")
                #expect(String(clock.last.rawValue) == (try step.string("last")), "\(step.name): last")
                steps += 1
            }
        }
        print("clock conformance: \(cases.count) cases, \(steps) steps")
    }
}
