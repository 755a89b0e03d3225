import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Testing

/// `G(A, k)` of `Specs/permissions.md` §4.1 (§11, P5 in part): over random membership
/// histories in which admins set and clear policies concurrently (some with a `seen` vector
/// that voids them), delivered in any order with duplicates:
///
/// - the applied policies and `G(A, k)` for every author and position are the same;
/// - the applied policies are exactly the `set-policy` ops that are not void, in
///   `(t, author, k, bundle id)` order, and `G` is the last of them with `k > seen[A]`
///   (an oracle written here, not calling the implementation);
/// - `G(A, k)` never moves back in membership order as `k` grows.
@Suite struct PolicyGovernanceProperties {
    @Test func governingPolicyIsOrderFreeMatchesTheRuleAndIsMonotoneAlongEveryChain() throws {
        var histories = 0, several = 0, voided = 0, moved = 0
        try PropertyRunner.check("policies: G(A, k) order-free, as stated, monotone", cases: 1000, baseSeed: 0x504F_4C00) { rng in
            let history = MembershipHistory.generate(using: &rng, policies: true)
            let reference = history.evaluate(history.ops)
            let authors = Array(Set(history.devices.map(\.key.publicKey) + [MembershipHistory.key(&rng).publicKey])).sorted()
            let top = (history.devices.map(\.next).max() ?? 1) + 2
            func table(_ state: MembershipState) -> [[BundleID?]] {
                authors.map { a in (1...top).map { k in state.governingPolicy(author: a, sequence: k)?.by.bundleID } }
            }
            let expected = table(reference)
            for _ in 0..<3 {
                var input = history.ops.shuffled(using: &rng)
                for op in history.ops where rng.chance(0.2) { input.insert(op, at: Int.random(in: 0...input.count, using: &rng)) }
                let state = history.evaluate(input)
                guard state.policies == reference.policies, table(state) == expected else {
                    throw PropertyViolation("another delivery order of \(history.ops.count) ops gives other policies or another G")
                }
            }
            // The oracle: applied = set-policy ops not void, in (t, author, k, bundle id) order.
            let void = Set(reference.voidOps)
            let applied = history.ops.filter { op in
                if case .setPolicy = op.op { !void.contains(op) } else { false }
            }.sorted { ($0.stamp, $0.author, $0.position, $0.bundleID) < ($1.stamp, $1.author, $1.position, $1.bundleID) }
            guard applied.map(\.bundleID) == reference.policies.map(\.by.bundleID) else {
                throw PropertyViolation("policies \(reference.policies.map(\.by)) are not the applied set-policy ops \(applied)")
            }
            for (i, a) in authors.enumerated() {
                var last = -1
                for k in 1...top {
                    let oracle = applied.lastIndex { op in
                        guard case .setPolicy(let seen, _) = op.op else { return false }
                        return k > (seen.entries[a] ?? 0)
                    }
                    guard expected[i][Int(k) - 1] == oracle.map({ applied[$0].bundleID }) else {
                        throw PropertyViolation("G(\(a.hex.prefix(8)), \(k)) differs from the rule of §4.1")
                    }
                    let index = reference.governingPolicyIndex(author: a, sequence: k) ?? -1
                    guard index >= last else { throw PropertyViolation("G(\(a.hex.prefix(8)), \(k)) moved back in membership order") }
                    if index > last && last >= 0 { moved += 1 }
                    last = index
                }
            }
            histories += 1
            if reference.policies.count >= 2 { several += 1 }
            if reference.voidOps.contains(where: { if case .setPolicy = $0.op { true } else { false } }) { voided += 1 }
        }
        print(
            "policy histories: \(histories); with two or more policies \(several), a void set-policy \(voided); G moved forward along a chain \(moved) times"
        )
        if histories >= 500 {
            #expect(several * 10 >= histories, "fewer than 10% of the histories have two policies")
            #expect(voided * 20 >= histories, "fewer than 5% of the histories have a void set-policy")
            #expect(moved > 0, "G never changed along a chain")
        }
    }
}
