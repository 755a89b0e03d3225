// The permissions suite (issue 14, Specs/permissions.md §12 stage 5): what deciding every
// op against a policy costs at merge.
//
//   concord-bench --suite permissions --dir D [--writes 100000] [--keys 10000] [--bundles 100] [--runs 3]
//
// Two encrypted spaces on SQLite replicas, built alike through the public API: an admin, a
// writer and an importer's invite. In one the admin sets a 20-rule policy (20 grants over 17
// entries, the wildcard included; the writer's role `editor` has a deny list of field
// patterns in collection `m`) before the writer writes; the other has no policy. The writer
// makes the map workload (--writes sets of --keys fields of one record in `m`, as
// `concord-bench --workload map`) in --bundles sealed bundles. A fresh replica of the
// importer takes the control bundles, then imports the writer's bundles in one call
// (`Replica.import`), timed. Runs alternate between the spaces. Overhead =
// time(policy) / time(no policy) - 1 (goal: under 10% of import time).
// Prints one JSON object per measurement, then a table with the goal's PASS or MISS.
import Concord
import ConcordCore
import ConcordTesting
import Foundation

struct PermissionsOptions {
    var bundles = 100
    var runs = 3
    var dir = ""

    init(_ extra: [String]) {
        var i = 0
        while i + 1 < extra.count {
            let (flag, text) = (extra[i], extra[i + 1])
            switch flag {
            case "--bundles": bundles = max(1, number(text, flag))
            case "--runs": runs = max(1, number(text, flag))
            case "--dir": dir = text
            default: fail("unknown --suite permissions flag \(flag)")
            }
            i += 2
        }
        guard !dir.isEmpty else { fail("--suite permissions needs --dir D (an empty directory for the replicas)") }
    }
}

/// The benchmark's policy: 20 grants (rules) over the wildcard, `m` and 15 other collections.
func twentyRulePolicy() throws -> Policy {
    try Policy {
        PolicyRole("editor", base: .writer)
        PolicyRole("learner", base: .writer)
        PolicyRole("teacher", base: .writer)
        PolicyRole("parent", base: .reader)
        InOtherCollections {
            Grant("teacher", .all)
            Grant("editor", create: .any, update: .any)
        }
        InCollection("m") {
            Grant("editor", create: .any, update: .any, fields: .deny(["secret", "grade.*", "review.*"]))
            Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
            Grant("teacher", .all)
        }
        for n in 1...15 {
            InCollection("course_\(n)") {
                Grant("learner", create: .own, update: .own, fields: .allow(["answer", "notes.*"]))
            }
        }
    }
}

/// One space: the control bundles a new member takes first, the writer's data bundles, and
/// the importer's invite.
struct PermissionSpace {
    var controls: [[UInt8]]
    var data: [[UInt8]]
    var token: MemberInviteToken
}

func buildPermissionSpace(policy: Policy?, dir: String, keys: [Int], names: [String], bundles: Int, runs: Int) async throws
    -> PermissionSpace
{
    let admin = try await Replica.create(at: dir + "/admin", name: "admin")
    let role = policy == nil ? RoleAssignment.writer : try RoleAssignment(named: "editor", base: .writer)
    if let policy { try await admin.setPolicy(policy) }
    let writer = try await Replica.join(try await admin.invite(role: role), at: dir + "/writer", name: "writer")
    let token = try await admin.invite(role: .writer, maxUses: UInt64(runs))
    try await writer.import(try await admin.bundles())
    try await admin.import(try await writer.bundles())
    try await writer.import(try await admin.bundles())
    let controls = try await collect(try await admin.bundles())
    let before = try await admin.versionVector()
    // The map workload's record (`concord-bench --workload map`).
    let record = RecordID(high: 0x0123_4567_89AB_4DEF, low: 0x8123_4567_89AB_CDEF)
    let perBundle = max(1, (keys.count + bundles - 1) / bundles)
    var n = 0
    while n < keys.count {
        let slice = Array(keys[n..<min(keys.count, n + perBundle)])
        let first = n
        try await writer.write { tx in
            for (offset, key) in slice.enumerated() {
                try tx.set(names[key], to: .int(Int64(first + offset)), record: record, in: "m")
            }
        }
        try await writer.seal()
        n += slice.count
    }
    let data = try await collect(try await writer.bundles(since: before))
    return PermissionSpace(controls: controls, data: data, token: token)
}

/// The bytes of every bundle of `stream`, in order.
func collect(_ stream: BundleStream) async throws -> [[UInt8]] {
    var bytes: [[UInt8]] = []
    for try await bundle in stream { bytes.append(bundle.bytes) }
    return bytes
}

func runPermissionsSuite(_ options: Options) {
    let o = PermissionsOptions(options.extra)
    do {
        try runBlocking {
            let policy = try twentyRulePolicy()
            let rules = policy.entries.reduce(0) { $0 + $1.grants.count }
            var rng = SeededGenerator(seed: options.seed &* 2)
            let keys = (0..<options.writes).map { _ in Int.random(in: 0..<options.keys, using: &rng) }
            let names = (0..<options.keys).map { "k\($0)" }
            var spaces: [Bool: PermissionSpace] = [:]
            for withPolicy in [false, true] {
                spaces[withPolicy] = try await buildPermissionSpace(
                    policy: withPolicy ? policy : nil, dir: o.dir + (withPolicy ? "/policy" : "/none"), keys: keys, names: names,
                    bundles: o.bundles, runs: o.runs)
            }
            var times: [Bool: [Double]] = [:]
            var denied = 0
            for run in 0..<o.runs {
                for withPolicy in (run % 2 == 0 ? [false, true] : [true, false]) {
                    let space = spaces[withPolicy]!
                    let path = o.dir + "/import-\(withPolicy ? "policy" : "none")-\(run)"
                    let replica = try await Replica.join(space.token, at: path, name: "importer")
                    try await replica.import(space.controls)
                    let start = now()
                    let summary = try await replica.import(space.data)
                    times[withPolicy, default: []].append(now() - start)
                    guard summary.applied == space.data.count else {
                        fail("permissions suite: \(summary) (policy: \(withPolicy))")
                    }
                    denied += summary.denied.count
                }
            }
            guard denied == 0 else { fail("permissions suite: \(denied) ops denied; the workload must be allowed") }
            var medians: [Bool: Double] = [:]
            for withPolicy in [false, true] {
                let sorted = times[withPolicy]!.sorted()
                medians[withPolicy] = sorted[sorted.count / 2]
                print(
                    "{\"suite\": \"permissions\", \"policy_rules\": \(withPolicy ? rules : 0), \"ops\": \(options.writes), \"bundles\": \(spaces[withPolicy]!.data.count), \"import_seconds\": \(medians[withPolicy]!)}"
                )
            }
            let overhead = medians[true]! / medians[false]! - 1
            let ops = options.writes
            print("")
            print("| measurement | median |")
            print("|---|---|")
            print(
                "| import \(ops) map ops in \(spaces[false]!.data.count) bundles, no policy | \(String(format: "%.3f s", medians[false]!)) |"
            )
            print("| the same under a \(rules)-rule policy (every op decided) | \(String(format: "%.3f s", medians[true]!)) |")
            print("| policy overhead on import | \(String(format: "%.1f%%", overhead * 100)) |")
            print("")
            print(
                "goal: merge cost of a \(rules)-rule policy under 10% of import time: \(overhead < 0.10 ? "PASS" : "MISS") (\(String(format: "%.1f%%", overhead * 100)))"
            )
        }
    } catch {
        fail("permissions suite failed: \(error)")
    }
}
