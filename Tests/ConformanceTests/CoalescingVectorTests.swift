import Concord
import ConcordCore
import Foundation
import Testing

@testable import ConcordProtocol

/// `Specs/vectors/coalescing.jsonl` (`Specs/wire-format.md` section 7.6): coalescing each
/// case's `ops` gives exactly `coalesced`, in order, and applying either to an empty state
/// gives the same full state.
@Suite struct CoalescingVectorTests {
    @Test func everyCoalescingVectorConforms() throws {
        let cases = try VectorConformanceTests.load("coalescing.jsonl", withExpected: false)
        #expect(cases.count >= 5)
        for v in cases {
            let ops = try v.array("ops").map(VectorConformanceTests.operation)
            let expected = try v.array("coalesced").map(VectorConformanceTests.operation)
            #expect(OperationCoalescer.coalesce(ops) == expected, "\(v.name)")
            var all = ReplicaState(), kept = ReplicaState()
            all.apply(contentsOf: ops)
            kept.apply(contentsOf: expected)
            #expect(all == kept, "\(v.name): the coalesced ops give another state")
        }
    }
}
