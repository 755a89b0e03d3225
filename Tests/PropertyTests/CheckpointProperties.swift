import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Testing

/// What a relay may conclude about stability (`Specs/snapshots.md` §5.2 and §8), over the
/// seeded histories of ``StabilitySim`` (seeds printed; `CONCORD_SEED=N` reruns one).
///
/// A relay reads no payload (encrypted spaces): it knows each author's chain, the `ack` ops
/// and the membership, not the causal contexts of data bundles. Its stable cut
/// (``relayCut(_:relay:)``) counts an author that wrote a data bundle (which acknowledges
/// something it cannot read) with its own chain only, and one whose chain holds only
/// control bundles and no `ack` not at all, like the replica (`Replica.stability()`).
@Suite struct CheckpointProperties {
    /// `relayCutIsConservative`: the relay's stable cut never exceeds the stable cut of a
    /// device that holds at least what the relay holds, so retention below it never drops a
    /// bundle such a device still counts as unstable.
    ///
    /// The condition matters (found writing this property): a device that lacks a bundle
    /// the relay holds (a `stale` op, another member's newer ack) can have a lower cut than
    /// the relay, and so can a device whose own acknowledgement the relay has not received;
    /// the claim holds for every device once it has pulled (`Specs/snapshots.md` §10).
    @Test func relayCutIsConservative() throws {
        var histories = 0, comparisons = 0, strictlyBelow = 0
        try PropertyRunner.check("stability: the relay's cut is conservative", cases: 1000, baseSeed: 0x5354_4400) { rng in
            var sim = StabilitySim(using: &rng, removals: true)
            let relay = sim.keys.count
            sim.held.append(VersionVector())
            for d in 0..<relay { sim.sync(relay, from: d) }
            /// Compares the relay's cut with that of every device in `devices` holding all it holds.
            func compare(_ devices: [Int]) throws {
                let relayCut = Self.relayCut(sim, relay: relay)
                guard sim.held[relay].includes(relayCut) else {
                    throw PropertyViolation("the relay's cut \(relayCut) is above what it holds \(sim.held[relay])")
                }
                for d in devices where sim.held[d].includes(sim.held[relay]) {
                    let cut = sim.stableCut(of: d)
                    guard cut.includes(relayCut) else {
                        throw PropertyViolation("the relay's cut \(relayCut) exceeds device \(d)'s \(cut), which holds all the relay holds")
                    }
                    comparisons += 1
                    if cut != relayCut { strictlyBelow += 1 }
                }
            }
            for _ in 0..<Int.random(in: 20...60, using: &rng) {
                guard rng.chance(0.3) else {
                    sim.step(&rng)
                    continue
                }
                // A device's sync round through the relay: pull, then push; compared after.
                let d = Int.random(in: 0..<relay, using: &rng)
                sim.sync(d, from: relay)
                sim.sync(relay, from: d)
                try compare([d])
            }
            try compare(Array(0..<relay))
            histories += 1
        }
        print("relay cut histories: \(histories); comparisons \(comparisons), relay strictly below the device \(strictlyBelow)")
        if histories >= 500 {
            #expect(comparisons >= histories * 5, "fewer than five comparisons per history")
            #expect(strictlyBelow * 10 >= comparisons, "the relay's cut is almost never below a device's: the property is vacuous")
        }
    }

    /// The relay's stable cut, by the function the relay runs (`StabilityTracker.relayCut`):
    /// the `ack` ops of the membership the relay evaluates, and each author's chain up to its
    /// head once it wrote a data bundle (whose context a relay cannot read) or an `ack`.
    static func relayCut(_ sim: StabilitySim, relay: Int) -> VersionVector {
        var dataAuthors: Set<PublicKey> = []
        for (author, head) in sim.held[relay].entries where sim.chains[author]!.prefix(Int(head)).contains(where: { $0.record == nil }) {
            dataAuthors.insert(author)
        }
        return StabilityTracker.relayCut(membership: sim.view(relay), held: sim.held[relay], dataAuthors: dataAuthors)
    }
}
