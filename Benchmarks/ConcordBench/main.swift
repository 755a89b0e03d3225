// concord-bench: one Concord workload in this process, one JSON object on stdout.
//
//   concord-bench --workload map|set --writes 100000 --keys 10000 --seed 42
//
// Benchmarks/run.py runs it beside Yrs (pycrdt) and Loro with the same workloads and
// prints the side-by-side table (`make bench`). The JSON keys are the contract of run.py.
// `--suite bundles` (BundleBenchmark.swift) and `--suite store` (StoreBenchmark.swift)
// are the change-bundle and persisted-store sections (Benchmarks/bundles.py, store.py);
// `--suite verify` (VerifyBenchmark.swift) a classroom's sync of many small bundles and its
// verification share (Benchmarks/verify.py); `--suite members` (MembersBenchmark.swift)
// membership's import overhead (Benchmarks/members.py); `--suite permissions`
// (PermissionsBenchmark.swift) a 20-rule policy's merge cost (Benchmarks/permissions.py);
// `--suite school-year` (SchoolYearBenchmark.swift) a classroom's year of data with
// collection on and off (Benchmarks/school_year.py); `--suite new-device`
// (NewDeviceBenchmark.swift) a new device's first sync from a snapshot beside a replay of
// the whole log (Benchmarks/new_device.py).
import ConcordCore
import ConcordTesting

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Options {
    var workload = "map"
    var writes = 100_000
    var keys = 10_000
    var seed: UInt64 = 42
    var suite = "workload"
    /// Flags of `--suite store` and `--suite verify` (parsed in StoreBenchmark.swift and
    /// VerifyBenchmark.swift).
    var extra: [String] = []

    init(_ arguments: [String]) {
        var i = 1
        func value() -> String {
            i += 1
            guard i < arguments.count else { fail("missing value for \(arguments[i - 1])") }
            return arguments[i]
        }
        let store = zip(arguments, arguments.dropFirst()).contains { $0 == "--suite" && ($1 == "store" || $1 == "verify" || $1 == "members" || $1 == "permissions" || $1 == "school-year" || $1 == "new-device") }
        while i < arguments.count {
            switch arguments[i] {
            case "--workload": workload = value()
            case "--writes": writes = number(value(), "--writes")
            case "--keys": keys = number(value(), "--keys")
            case "--seed": seed = UInt64(number(value(), "--seed"))
            case "--batch": _ = value()  // Concord's local writes need no transaction; accepted for parity
            case "--suite": suite = value()
            case "--help", "-h":
                print("usage: concord-bench --workload map|set [--writes N] [--keys K] [--seed S]\n       concord-bench --suite bundles [--writes N] [--keys K] [--seed S]\n       concord-bench --suite store --step gen|import|raw|writes [--ops N] [--file F] [--dir D] [--mode single|batched] [--queries Q] [--cache-kib K] [--seed S]\n       concord-bench --suite verify --dir D [--learners 30] [--answers 20] [--burst 4] [--per-sync 5]\n       concord-bench --suite members --dir D [--members 1000] [--bundles 100] [--ops 100] [--runs 3]\n       concord-bench --suite permissions --dir D [--writes N] [--keys K] [--bundles 100] [--runs 3]\n       concord-bench --suite school-year --dir D [--collection on|prune-only|off] [--days 190] [--students 29] [--ops 60] [--every 10] [--silent 40] [--trace FILE] [--history-horizon 0] [--retention 30] [--compact-every 7] [--snapshot-min-bundles N]\n       concord-bench --suite new-device --dir D [--ops 1000000] [--records 100000] [--tail 10000] [--devices 4] [--bundle-ops 10] [--per-sync 100] [--runs 3] [--replay on|off]")
                exit(0)
            case let flag where store && flag.hasPrefix("--"): extra += [flag, value()]
            default: fail("unknown argument \(arguments[i]); see --help")
            }
            i += 1
        }
        guard ["map", "set"].contains(workload) else { fail("--workload must be map or set") }
        guard ["workload", "bundles", "store", "verify", "members", "permissions", "school-year", "new-device"].contains(suite) else {
            fail("--suite must be workload, bundles, store, verify, members, permissions, school-year or new-device")
        }
        guard writes > 0, keys > 0 else { fail("--writes and --keys must be positive") }
    }
}

let options = Options(CommandLine.arguments)
if options.suite == "bundles" {
    runBundleSuite(options)
    exit(0)
}
if options.suite == "store" {
    runStoreSuite(options)
    exit(0)
}
if options.suite == "verify" {
    runVerifySuite(options)
    exit(0)
}
if options.suite == "members" {
    runMembersSuite(options)
    exit(0)
}
if options.suite == "permissions" {
    runPermissionsSuite(options)
    exit(0)
}
if options.suite == "school-year" {
    runSchoolYearSuite(options)
    exit(0)
}
if options.suite == "new-device" {
    runNewDeviceSuite(options)
    exit(0)
}
let record = RecordID(high: 0x0123_4567_89AB_4DEF, low: 0x8123_4567_89AB_CDEF)

/// One replica's writes, drawn before timing: (isAdd, key index).
func draws(replica: UInt64) -> [(Bool, Int)] {
    var rng = SeededGenerator(seed: options.seed &* 2 &+ replica)
    return (0..<options.writes).map { _ in
        let isAdd = options.workload == "map" || Double.random(in: 0..<1, using: &rng) < 0.7
        return (isAdd, Int.random(in: 0..<options.keys, using: &rng))
    }
}

/// Applies one replica's writes locally; returns the operations made and the seconds taken.
func writeLocally(_ replica: inout LocalReplica, _ plan: [(Bool, Int)], names: [String], values: [Value]) throws -> ([RecordOperation], Double) {
    var ops = [RecordOperation]()
    ops.reserveCapacity(plan.count)
    let start = now()
    if options.workload == "map" {
        for (n, (_, key)) in plan.enumerated() {
            ops.append(try replica.set(names[key], to: .int(Int64(n)), record: record, in: "m"))
        }
    } else {
        for (isAdd, key) in plan {
            if isAdd {
                ops.append(try replica.add(values[key], to: "s", record: record, in: "m"))
            } else {
                // Removing an absent member is skipped, as the peers do.
                let observed = replica.state.tags(of: values[key], in: "s", of: record, in: "m")
                if !observed.isEmpty {
                    ops.append(try replica.perform(.remove(field: "s", value: values[key], observed: observed), record: record, in: "m"))
                }
            }
        }
    }
    return (ops, now() - start)
}

/// FNV-1a, 64 bits: the plan and member digests that Benchmarks/peers/crdts_orswot prints too.
func fnv1a(_ hash: UInt64, _ bytes: some Sequence<UInt8>) -> UInt64 {
    bytes.reduce(hash) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
}
let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325

/// Per write one byte (1 = add) and the key index as 8 bytes little-endian, both plans.
func planDigest(_ plans: [[(Bool, Int)]]) -> String {
    var hash = fnvOffset
    for plan in plans {
        for (isAdd, key) in plan {
            hash = fnv1a(hash, [isAdd ? 1 : 0])
            hash = withUnsafeBytes(of: UInt64(key).littleEndian) { fnv1a(hash, $0) }
        }
    }
    return hex16(hash)
}

/// The members sorted (by UTF-8 bytes, as ``Value`` orders strings), each followed by a 0.
func membersDigest(_ members: [Value]) -> String {
    hex16(members.reduce(fnvOffset) { hash, member in
        guard case .string(let text) = member else { fail("unexpected member \(member)") }
        return fnv1a(fnv1a(hash, text.utf8), [0])
    })
}

func hex16(_ n: UInt64) -> String {
    let digits = String(n, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

let names = (0..<options.keys).map { "k\($0)" }
let values = (0..<options.keys).map { Value.string("e\($0)") }
var a = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xA1, count: 32))!)
var b = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xB2, count: 32))!)
let (planA, planB) = (draws(replica: 0), draws(replica: 1))

do {
    let (opsA, secondsA) = try writeLocally(&a, planA, names: names, values: values)
    let (opsB, _) = try writeLocally(&b, planB, names: names, values: values)

    // State-based merge, measured on copies before the op exchange.
    var stateCopy = a.state
    let t0 = now()
    stateCopy.merge(b.state)
    let stateMergeSeconds = now() - t0

    // Export: encode every operation each replica wrote.
    let t1 = now()
    let bytesA = OperationCodec.encode(opsA)
    let bytesB = OperationCodec.encode(opsB)
    let exportSeconds = now() - t1

    // Import A -> B: decode then apply (with clock drift check).
    let t2 = now()
    let decodedA = try OperationCodec.decode(bytesA)
    let t3 = now()
    try b.receive(decodedA)
    let t4 = now()
    // Import B -> A.
    let decodedB = try OperationCodec.decode(bytesB)
    try a.receive(decodedB)
    let t5 = now()

    let importAB = t4 - t2, importBA = t5 - t4
    let converged = a.state == b.state && a.state.digest == b.state.digest && stateCopy == a.state
    let ms = { (s: Double) in (s * 1e6).rounded() / 1e3 }
    // Outside the timings: what run.py compares with the crdts ORSWOT's run (same draws,
    // same add-wins members).
    let members = a.state.recordState(record, in: "m")?.set("s")?.elements ?? []
    let digests = options.workload == "set"
        ? "\"members\": \(members.count), \"plan_digest\": \"\(planDigest([planA, planB]))\", \"members_digest\": \"\(membersDigest(members))\", "
        : ""
    let json = """
    {"system": "concord", "version": "0.1.0-dev", "workload": "\(options.workload)", "writes": \(options.writes), \
    "keys": \(options.keys), "seed": \(options.seed), "local_writes_per_s": \(Double(options.writes) / secondsA), \
    "import_ms": \(ms((importAB + importBA) / 2)), "merge_ms": \(ms(exportSeconds + importAB + importBA)), \
    "update_bytes": \(bytesA.count), "converged": \(converged), "peak_rss_mb": \(peakRSSMegabytes()), \
    "decode_ms": \(ms(t3 - t2)), "apply_ms": \(ms(t4 - t3)), "state_merge_ms": \(ms(stateMergeSeconds)), \
    "ops_exchanged": \(opsA.count), \(digests)\
    "note": "ConcordCore in-process: LocalReplica writes (HLC-stamped ops), OperationCodec encode, decode + apply on the other replica; every op exchanged, no coalescing"}
    """
    print(json)
} catch {
    fail("workload failed: \(error)")
}
