import ConcordCore
import ConcordCrypto
import ConcordStore
import ConcordTesting
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Replicas on stores (memory, and SQLite files every fifth case) write random
/// transactions, seal at random, and exchange bundles in random order, with duplicates,
/// partial vectors and gaps (held bundles). Afterwards every replica has the same state,
/// equal to applying every sealed operation to one in-memory state.
@Suite("Replica convergence properties")
struct ReplicaConvergenceProperties {
    @Test func replicasOnStoresConverge() async throws {
        try await PropertyRunner.checkAsync("2-4 replicas on stores converge through shuffled bundles", cases: 60) { rng in
            let dir = temporaryDirectory("convergence-\(rng.seed)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let onDisk = rng.seed % 5 == 0
            let founder = Membership.createSpace(encrypted: rng.chance(0.7))
            let invite = try founder.writerInvite()
            var replicas: [Replica] = []
            let options = Replica.Options(autoSealOperationCount: rng.chance(0.5) ? 7 : nil, importBatchOperationCount: Int.random(in: 1...50, using: &rng))
            for i in 0..<Int.random(in: 2...4, using: &rng) {
                let membership = i == 0 ? founder : try Membership.join(invite)
                let store: any Store = onDisk ? try SQLiteStore(path: "\(dir)/\(i).sqlite") : MemoryStore()
                replicas.append(try Replica(store: store, membership: membership, options: options))
            }
            let domain = Generators.Domain.small(recordCount: 5, using: &rng)

            for _ in 0..<Int.random(in: 5...25, using: &rng) {
                let r = replicas[Int.random(in: 0..<replicas.count, using: &rng)]
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<6:
                    let steps = (0..<Int.random(in: 1...6, using: &rng)).map { _ in randomStep(domain, &rng) }
                    try await r.write { tx in for step in steps { try step(tx) } }
                case 6:
                    try await r.seal()
                default:
                    let target = replicas[Int.random(in: 0..<replicas.count, using: &rng)]
                    let since = rng.chance(0.5) ? try await target.versionVector() : VersionVector()
                    var bundles = try await collect(r.bundles(since: since)).map(\.bytes)
                    if rng.chance(0.3) { bundles += bundles.prefix(2) }  // duplicates
                    if rng.chance(0.6) { bundles.shuffle(using: &rng) }  // gaps: held, then released
                    if rng.chance(0.3), bundles.count > 1 { bundles.removeLast() }  // lost in transit
                    let summary = try await target.import(bundles)
                    guard summary.rejected.isEmpty, summary.forks == 0 else { throw Failure("unexpected rejection: \(summary)") }
                }
            }
            // Heal: everyone sends everything to everyone until nothing changes.
            for _ in 0..<3 {
                for a in replicas {
                    for b in replicas where a !== b {
                        try await b.import(collect(a.bundles(since: b.versionVector())).map(\.bytes))
                    }
                }
            }
            var oracle = ReplicaState()
            for bundle in try await collect(replicas[0].bundles()) {
                oracle.apply(contentsOf: try founder.contents(of: bundle).operations)
            }
            let expected = oracle.digestHex
            for (i, replica) in replicas.enumerated() {
                let digest = try await replica.state().digestHex
                guard digest == expected else { throw Failure("replica \(i) digest \(digest.prefix(12)) != oracle \(expected.prefix(12))") }
                let status = try await replica.status()
                guard status.heldBundles == 0, status.pendingOperations == 0 else { throw Failure("replica \(i) left \(status)") }
            }
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One random write in a transaction (set, add, remove of a present member, delete).
func randomStep(_ domain: Generators.Domain, _ rng: inout SeededGenerator) -> @Sendable (WriteTransaction) throws -> Void {
    let collection = domain.collections.randomElement(using: &rng)!
    let record = domain.records.randomElement(using: &rng)!
    let value = Generators.value(using: &rng)
    let register = domain.registerFields.randomElement(using: &rng)!
    let set = domain.setFields.randomElement(using: &rng)!
    let pick = UInt64.random(in: 0..<UInt64.max, using: &rng)
    switch Int.random(in: 0..<10, using: &rng) {
    case 0..<4: return { try $0.set(register, to: value, record: record, in: collection) }
    case 4..<7: return { try $0.add(value, to: set, record: record, in: collection) }
    case 7..<9:
        return { tx in
            let members = try tx.record(record, in: collection)?.members(of: set) ?? []
            guard !members.isEmpty else { return }
            try tx.remove(members[Int(pick % UInt64(members.count))], from: set, record: record, in: collection)
        }
    default: return { try $0.delete(record: record, in: collection) }
    }
}
