import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Testing

/// `ChainRule`, the one statement of when a bundle extends its author's chain
/// (`Specs/sync-protocol.md` §7): every verdict by example, then a seeded property against
/// an oracle written from the spec's table, which also catches a deliberately wrong rule.
struct ChainRuleTests {
    /// A distinct, recognisable id: 32 bytes of `byte`.
    static func id(_ byte: UInt8) -> BundleID { BundleID(digest: try! Digest32(bytes: [UInt8](repeating: byte, count: 32))) }

    let a1 = Self.id(1), a2 = Self.id(2), a3 = Self.id(3), a4 = Self.id(4), b2 = Self.id(0xB2), b4 = Self.id(0xB4), x = Self.id(0xEE)

    @Test func anEmptyChainIsExtendedOnlyByAFirstBundleLinkingToZero() {
        #expect(ChainRule.verdict(sequence: 1, previous: .zero, id: a1, against: nil) == .extends)
        #expect(ChainRule.verdict(sequence: 1, previous: x, id: a1, against: nil) == .fork(at: 0, existing: .zero, claimed: x))
        #expect(ChainRule.verdict(sequence: 2, previous: a1, id: a2, against: nil) == .gap(needed: 1))
        #expect(ChainRule.verdict(sequence: 0, previous: .zero, id: a1, against: nil) == .gap(needed: 1))
    }

    @Test func theNextPlaceExtendsWhenItLinksToTheHeadAndForksAtTheHeadOtherwise() {
        let head = ChainRule.Link(sequence: 3, id: a3)
        #expect(ChainRule.verdict(sequence: 4, previous: a3, id: a4, against: head) == .extends)
        #expect(ChainRule.verdict(sequence: 4, previous: x, id: b4, against: head) == .fork(at: 3, existing: a3, claimed: x))
        // Zero is not the head's id either.
        #expect(ChainRule.verdict(sequence: 4, previous: .zero, id: b4, against: head) == .fork(at: 3, existing: a3, claimed: .zero))
    }

    @Test func aPlaceBeyondTheNextIsAGapNamingTheNeededSequence() {
        let head = ChainRule.Link(sequence: 3, id: a3)
        #expect(ChainRule.verdict(sequence: 5, previous: a4, id: Self.id(5), against: head) == .gap(needed: 4))
        #expect(ChainRule.verdict(sequence: .max, previous: x, id: x, against: head) == .gap(needed: 4))
    }

    @Test func aHeldPlaceIsADuplicateForTheSameIdAndAForkForAnother() {
        let second = ChainRule.Link(sequence: 2, id: a2)
        #expect(ChainRule.verdict(sequence: 2, previous: a1, id: a2, against: second) == .duplicate)
        #expect(ChainRule.verdict(sequence: 2, previous: a1, id: b2, against: second) == .fork(at: 2, existing: a2, claimed: b2))
        // The previous link does not matter for a held place: the id decides.
        #expect(ChainRule.verdict(sequence: 2, previous: x, id: b2, against: second) == .fork(at: 2, existing: a2, claimed: b2))
    }

    @Test func extendsAfterAHeadAnswersForTheNextPlaceOnly() {
        let head = ChainRule.Link(sequence: 3, id: a3)
        #expect(ChainRule.extends(sequence: 4, previous: a3, after: head))
        #expect(!ChainRule.extends(sequence: 4, previous: x, after: head))
        #expect(!ChainRule.extends(sequence: 5, previous: a4, after: head))
        // At or below the head the place is taken: never an extension, whatever the links.
        #expect(!ChainRule.extends(sequence: 3, previous: a2, after: head))
        #expect(!ChainRule.extends(sequence: 1, previous: .zero, after: head))
        #expect(ChainRule.extends(sequence: 1, previous: .zero, after: nil))
        #expect(!ChainRule.extends(sequence: 2, previous: a1, after: nil))
    }

    @Test func aChangeBundleIsJudgedByItsOwnHeaderFields() throws {
        let alice = writer(1, of: space(7))
        var log = BundleLog()
        var replica = alice.makeReplica()
        let first = try alice.seal([try replica.set("title", to: .string("one"), record: todo, in: "todos")], appendingTo: &log)
        let second = try alice.seal([try replica.set("title", to: .string("two"), record: todo, in: "todos")], appendingTo: &log)
        #expect(ChainRule.verdict(for: first, against: nil) == .extends)
        #expect(ChainRule.verdict(for: second, against: log.head(of: alice.device.publicKey)?.link) == .duplicate)
        #expect(ChainRule.verdict(for: second, against: ChainRule.Link(sequence: 1, id: first.id)) == .extends)
        #expect(ChainRule.verdict(for: second, against: nil) == .gap(needed: 1))
    }

    // MARK: Property against the spec's table

    typealias Rule = (UInt64, BundleID, BundleID, ChainRule.Link?) -> ChainRule.Verdict

    /// The verdict the table of `Specs/sync-protocol.md` §7 gives, from the whole chain.
    static func oracle(chain: [BundleID], sequence k: UInt64, previous p: BundleID, id i: BundleID) -> ChainRule.Verdict {
        let h = UInt64(chain.count)
        if k >= 1 && k <= h {
            return chain[Int(k - 1)] == i ? .duplicate : .fork(at: k, existing: chain[Int(k - 1)], claimed: i)
        }
        let headID = h == 0 ? BundleID.zero : chain[Int(h - 1)]
        if k == h + 1 {
            return p == headID ? .extends : .fork(at: h, existing: headID, claimed: p)
        }
        return .gap(needed: h + 1)
    }

    /// The first case (seeded) where `rule` disagrees with the oracle, or nil.
    static func firstDisagreement(of rule: Rule, named name: String, cases: Int) throws -> String? {
        var found: String?
        do {
            try PropertyRunner.check(name, cases: cases, baseSeed: 0xC4A1_2000) { rng in
                // A chain of 0-5 random ids and candidates mixing its own ids with strangers.
                let chain = (0..<Int.random(in: 0...5, using: &rng)).map { _ in id(UInt8.random(in: 1...0xFF, using: &rng)) }
                let pool = chain + [.zero, id(0xEE), id(0xEF)]
                for _ in 0..<20 {
                    let k = UInt64.random(in: 1...UInt64(chain.count + 3), using: &rng)
                    let p = pool.randomElement(using: &rng)!
                    let i = pool.randomElement(using: &rng)!
                    // The link the rule is given: at k if held, else the head.
                    let link: ChainRule.Link? =
                        k <= UInt64(chain.count)
                        ? ChainRule.Link(sequence: k, id: chain[Int(k - 1)])
                        : chain.last.map { ChainRule.Link(sequence: UInt64(chain.count), id: $0) }
                    let expected = oracle(chain: chain, sequence: k, previous: p, id: i)
                    let got = rule(k, p, i, link)
                    guard got == expected else {
                        found =
                            "chain \(chain.map(\.shortDescription)), bundle (\(k), previous \(p.shortDescription), id \(i.shortDescription)): \(got), expected \(expected)"
                        throw PropertyFailureText(found!)
                    }
                }
            }
        } catch is PropertyFailure {
            return found
        }
        return nil
    }

    @Test func theRuleAgreesWithTheSpecsTableOnRandomChains() throws {
        #expect(
            try Self.firstDisagreement(
                of: ChainRule.verdict(sequence:previous:id:against:), named: "ChainRule matches the spec's table", cases: 300) == nil)
    }

    /// The property is not vacuous: a rule that checks only the sequence (not the
    /// previous id) is caught.
    @Test func aRuleThatIgnoresThePreviousLinkIsCaught() throws {
        let sequenceOnly: Rule = { k, _, i, link in
            let h = link?.sequence ?? 0
            if let link, link.sequence == k { return link.id == i ? .duplicate : .fork(at: k, existing: link.id, claimed: i) }
            return k == h + 1 ? .extends : .gap(needed: h + 1)
        }
        let counterexample = try Self.firstDisagreement(of: sequenceOnly, named: "a sequence-only rule (must fail)", cases: 300)
        #expect(counterexample != nil)
        print("the sequence-only rule fails: \(counterexample ?? "-")")
    }
}

/// A property's counterexample as text.
private struct PropertyFailureText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
