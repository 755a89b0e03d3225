import ConcordCore
import ConcordCrypto
import ConcordTesting

@testable import ConcordProtocol

/// One device of a space with members, in memory: its membership, replica and bundle log,
/// importing through the real `BundleImporter`. Shared by the property tests that play
/// histories of members (`MemberImportProperties`, `PermissionProperties`, `ScopeProperties`).
struct MemberNode {
    var membership: Membership
    var replica: LocalReplica
    var log = BundleLog()

    init(_ membership: Membership, time: ManualClock) {
        self.membership = membership
        self.replica = membership.makeReplica(clock: HybridLogicalClock(physicalClock: time))
    }

    var key: PublicKey { membership.device.publicKey }
    var importer: BundleImporter { BundleImporter(membership: membership) }
    var state: MembershipState { importer.membershipState(of: log) }
    /// Every bundle it holds: its chains, fork evidence and held bundles.
    var everything: [ChangeBundle] { log.bundles + log.evidence + log.heldBundles }

    @discardableResult
    mutating func receive(_ bundle: ChangeBundle) -> ImportOutcome {
        importer.importBundle(bundle.bytes, into: &replica, log: &log)
    }

    /// Seals `op` in a control bundle of its own and imports it.
    mutating func control(_ op: MembershipOp, stamp: HLCTimestamp) throws {
        _ = receive(try membership.sealControl(op, log: log, stamp: stamp))
    }
}
