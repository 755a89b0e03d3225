import ConcordCore
import ConcordCrypto

/// Where ``BundleImporter`` imports into: a bundle log (chains, held, quarantined) and a
/// replica state with its clock. Two conform: ``InMemoryDestination`` (a `LocalReplica`
/// and a ``BundleLog``) and the store-backed destination of ``Replica``, so the import
/// pipeline (`Specs/wire-format.md`, section 7.7) exists once.
///
/// Methods throw ``ConcordError`` only for a rejection (and then change nothing); any
/// other error is a storage failure that aborts the whole import.
package protocol ImportDestination {
    /// The drift bound and physical clock used to verify bundles.
    var clock: HybridLogicalClock { get }
    /// Digests of certificate chains already fully verified.
    var verifiedCertificateChains: Set<Digest32> { get }
    func contains(_ id: BundleID) throws -> Bool
    func head(of author: PublicKey) throws -> BundleLog.ChainHead?
    /// The id of the bundle at `sequence` of `author`'s chain, if the chain holds it.
    func chainBundleID(of author: PublicKey, sequence: UInt64) throws -> BundleID?
    func heldBundle(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle?
    func heldCount() throws -> Int
    /// Checks the operations' newest clock reading against the drift bound (throwing
    /// ``ConcordError`` before any change), then merges the clock and applies them.
    mutating func receive(_ contents: BundleContents, of bundle: ChangeBundle) throws
    /// Records that a bundle about to enter its chain is void (nothing of it is applied).
    mutating func void(_ voided: VoidedBundle)
    mutating func append(_ bundle: ChangeBundle) throws
    mutating func hold(_ bundle: ChangeBundle) throws
    mutating func takeHeld(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle?
    /// Removes and returns a quarantined bundle of `author` that extends the chain whose
    /// head is `head` (by ``ChainRule``).
    mutating func takeQuarantined(of author: PublicKey, extending head: ChainRule.Link) throws -> ChangeBundle?
    mutating func quarantine(_ bundle: ChangeBundle, limit: Int) throws
    mutating func trust(_ chain: CertificateChain)
}

/// The in-memory destination: a replica and its bundle log.
struct InMemoryDestination: ImportDestination {
    var replica: LocalReplica
    var log: BundleLog

    var clock: HybridLogicalClock { replica.clock }
    var verifiedCertificateChains: Set<Digest32> { log.verifiedCertificateChains }
    func contains(_ id: BundleID) -> Bool { log.contains(id) }
    func head(of author: PublicKey) -> BundleLog.ChainHead? { log.head(of: author) }
    func chainBundleID(of author: PublicKey, sequence: UInt64) -> BundleID? { log.bundle(of: author, sequence: sequence)?.id }
    func heldBundle(of author: PublicKey, sequence: UInt64) -> ChangeBundle? { log.heldBundle(of: author, sequence: sequence) }
    func heldCount() -> Int { log.heldCount }

    mutating func receive(_ contents: BundleContents, of bundle: ChangeBundle) throws {
        try ConcordError.mapping("\(bundle)") { _ = try replica.receive(contents.operations) }
    }

    mutating func void(_ voided: VoidedBundle) { log.recordVoid(voided) }
    mutating func append(_ bundle: ChangeBundle) { log.append(bundle) }
    mutating func hold(_ bundle: ChangeBundle) { log.hold(bundle) }
    mutating func takeHeld(of author: PublicKey, sequence: UInt64) -> ChangeBundle? { log.takeHeld(of: author, sequence: sequence) }
    mutating func takeQuarantined(of author: PublicKey, extending head: ChainRule.Link) -> ChangeBundle? {
        log.takeQuarantined(of: author, extending: head)
    }
    mutating func quarantine(_ bundle: ChangeBundle, limit: Int) { log.quarantine(bundle, limit: limit) }
    mutating func trust(_ chain: CertificateChain) { log.trust(chain) }
}
