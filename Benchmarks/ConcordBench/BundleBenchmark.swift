// The change-bundle suite: seal, verify, open and import costs per bundle size, and bytes
// per operation when a replica seals every N writes of the map workload.
// Prints one JSON object per line: {"suite": "bundles", "system": "concord", "metric", ...}.
import Concord
import ConcordCore
import ConcordCrypto
import ConcordTesting

func emit(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
}

func quoted(_ s: String) -> String { "\"\(s)\"" }

/// A writer and an observer in one space, with fixed keys.
struct BundleFixture {
    let writer: Membership
    let observer: Membership

    init(encrypted: Bool) throws {
        writer = Membership.createSpace(device: try Identity(seed: [UInt8](repeating: 7, count: 32)), encrypted: encrypted)
        observer = try Membership.join(try writer.writerInvite(), device: try Identity(seed: [UInt8](repeating: 9, count: 32)))
    }

    /// `bundles` chained bundles of `count` set operations each, on distinct fields
    /// (nothing coalesces away), with the median seal time.
    func chain(bundles: Int, count: Int) throws -> (bundles: [ChangeBundle], sealSeconds: Double) {
        var replica = writer.makeReplica()
        let record = RecordID(high: 1, low: 2)
        var sealed = [ChangeBundle]()
        var times = [Double]()
        for b in 0..<bundles {
            let ops = try (0..<count).map { try replica.set("k\(b)-\($0)", to: .int(Int64($0)), record: record, in: "m") }
            let start = now()
            sealed.append(try writer.seal(ops, previous: sealed.last))
            times.append(now() - start)
        }
        return (sealed, times.sorted()[times.count / 2])
    }
}

/// Seal, verify, open and import costs per bundle size. Import is measured in the steady
/// state: bundles 2...n of a device whose first bundle (and certificate chain) the
/// observer already holds, each applied to the growing replica.
func runBundleSuite(_ options: Options) {
    do {
        for encrypted in [false, true] {
            let fixture = try BundleFixture(encrypted: encrypted)
            let importer = BundleImporter(membership: fixture.observer)
            for count in [1, 100, 10_000] {
                let n = count >= 10_000 ? 8 : (count >= 100 ? 52 : 302)
                let (bundles, seal) = try fixture.chain(bundles: n, count: count)
                var replica = fixture.observer.makeReplica()
                var log = BundleLog()
                guard case .applied = importer.importBundle(bundles[0].bytes, into: &replica, log: &log) else { fail("first bundle did not apply") }
                let verifier = BundleVerifier(spaceID: fixture.observer.spaceID)
                let trusted = log.verifiedCertificateChains
                var (verifyTimes, openTimes, importTimes) = ([Double](), [Double](), [Double]())
                for bundle in bundles.dropFirst() {
                    var start = now()
                    _ = try verifier.verify(bundle.bytes, trustedChains: trusted)
                    verifyTimes.append(now() - start)
                    start = now()
                    _ = try fixture.observer.operations(in: bundle)
                    openTimes.append(now() - start)
                    start = now()
                    let outcome = importer.importBundle(bundle.bytes, into: &replica, log: &log)
                    importTimes.append(now() - start)
                    guard case .applied = outcome else { fail("bundle import did not apply: \(outcome)") }
                }
                let median = { (xs: [Double]) in xs.sorted()[xs.count / 2] }
                let (verify, open, importTime) = (median(verifyTimes), median(openTimes), median(importTimes))
                let common: [(String, String)] = [("suite", quoted("bundles")), ("system", quoted("concord")), ("ops", "\(count)"), ("encrypted", "\(encrypted)")]
                emit(common + [("metric", quoted("seal_us")), ("value", "\(seal * 1e6)"), ("unit", quoted("us"))])
                emit(common + [("metric", quoted("verify_us")), ("value", "\(verify * 1e6)"), ("unit", quoted("us"))])
                emit(common + [("metric", quoted("open_us")), ("value", "\(open * 1e6)"), ("unit", quoted("us"))])
                emit(common + [("metric", quoted("import_us")), ("value", "\(importTime * 1e6)"), ("unit", quoted("us"))])
                emit(common + [("metric", quoted("verify_share")), ("value", "\(verify / importTime)"), ("unit", quoted("fraction"))])
                emit(common + [("metric", quoted("bundle_bytes")), ("value", "\(bundles[1].bytes.count)"), ("unit", quoted("bytes"))])
            }
        }
        try bytesPerOperation(options)
    } catch {
        fail("bundle suite failed: \(error)")
    }
}

/// The map workload of the core benchmark on one replica, sealed every N writes.
func bytesPerOperation(_ options: Options) throws {
    var rng = SeededGenerator(seed: options.seed &* 2)
    let keys = (0..<options.writes).map { _ in Int.random(in: 0..<options.keys, using: &rng) }
    let names = (0..<options.keys).map { "k\($0)" }
    let record = RecordID(high: 0x0123_4567_89AB_4DEF, low: 0x8123_4567_89AB_CDEF)
    for encrypted in [true, false] {
        let fixture = try BundleFixture(encrypted: encrypted)
        for every in [1, 100, 1_000, 100_000] where every <= options.writes {
            var replica = fixture.writer.makeReplica()
            var previous: ChangeBundle?
            var pending = [RecordOperation]()
            var (total, bundles) = (0, 0)
            for (n, key) in keys.enumerated() {
                pending.append(try replica.set(names[key], to: .int(Int64(n)), record: record, in: "m"))
                if pending.count == every || n == keys.count - 1 {
                    let bundle = try fixture.writer.seal(pending, previous: previous)
                    total += bundle.bytes.count
                    bundles += 1
                    previous = bundle
                    pending.removeAll(keepingCapacity: true)
                }
            }
            emit([("suite", quoted("bundles")), ("system", quoted("concord")), ("metric", quoted("bytes_per_op")), ("every", "\(every)"),
                  ("encrypted", "\(encrypted)"), ("writes", "\(options.writes)"), ("bundles", "\(bundles)"), ("bytes_total", "\(total)"),
                  ("value", "\(Double(total) / Double(options.writes))"), ("unit", quoted("bytes/op"))])
        }
    }
}
