// The members suite (issue 13, Specs/membership.md §11 stage 5): what membership costs.
//
//   concord-bench --suite members --dir D [--members 1000] [--bundles 100] [--ops 100] [--runs 3]
//
// 1. Import with membership checks: a space with --members members (an admin's genesis,
//    its invites and each member's join, as control bundles), one writer seals --bundles
//    data bundles of --ops operations each (encrypted), and a fresh SQLite replica of
//    another member, which already holds every control bundle, imports them in one call
//    (`Replica.import`, pages as a relay pull gives them). The same with a space of 3
//    members (admin, writer, reader). Overhead = time(--members) / time(3) - 1, the share
//    of import time the membership adds (goal: under 10%).
// 2. A rotation in the --members space: building the `rotate` op (a new epoch key sealed to
//    every member, the history of older keys) and its payload size (goals: under 1 s and
//    under 200 KB).
// Prints one JSON object per measurement, then a table with the goals' PASS or MISS.
import Concord
import ConcordCore
import ConcordCrypto
import ConcordTesting
import Foundation

struct MembersOptions {
    var members = 1000
    var bundles = 100
    var ops = 100
    var runs = 3
    var dir = ""

    init(_ extra: [String]) {
        var i = 0
        while i + 1 < extra.count {
            let (flag, text) = (extra[i], extra[i + 1])
            switch flag {
            case "--members": members = max(3, number(text, flag))
            case "--bundles": bundles = max(1, number(text, flag))
            case "--ops": ops = max(1, number(text, flag))
            case "--runs": runs = max(1, number(text, flag))
            case "--dir": dir = text
            default: fail("unknown --suite members flag \(flag)")
            }
            i += 2
        }
        guard !dir.isEmpty else { fail("--suite members needs --dir D (an empty directory for the replicas)") }
    }
}

/// A space with `count` members, built in memory: control bundles (genesis, invites, joins),
/// the writer's data bundles, and the importing member's invite token.
struct MemberSpace {
    var controls: [ChangeBundle] = []
    var data: [ChangeBundle] = []
    var importerToken: MemberInviteToken
    var admin: Membership
    var adminLog: BundleLog
}

func buildMemberSpace(members count: Int, bundles: Int, ops: Int, seed: UInt64) throws -> MemberSpace {
    let base = SystemClock().nowMilliseconds() - 3_600_000
    var clock = base
    func stamp() -> HLCTimestamp {
        clock += 1
        return HLCTimestamp(milliseconds: clock, counter: 0)
    }
    let (admin, genesis) = try Membership.createMemberSpace(name: "admin", encrypted: true, stamp: stamp())
    var log = BundleLog()
    var replica = admin.makeReplica()
    let importer = BundleImporter(membership: admin)
    func take(_ bundle: ChangeBundle) throws {
        guard case .applied = importer.importBundle(bundle.bytes, into: &replica, log: &log) else {
            throw CocoaError(.featureUnsupported)
        }
    }
    try take(genesis)
    // The admin's invites, sealed as one chain (the state after the genesis already makes it
    // an admin: importing each one would only re-evaluate a growing set).
    let afterGenesis = importer.membershipState(of: log)
    var tokens: [MemberInviteToken] = []
    var invites: [ChangeBundle] = []
    var previous = genesis
    for _ in 0..<(count - 1) {
        let s = stamp()
        let (op, token) = try admin.invite(role: .writer, expires: clock + 86_400_000, stamp: s, state: afterGenesis, log: log)
        let bundle = try ChangeBundle.sealControl(op, author: admin.device, spaceID: admin.spaceID, previous: previous, stamp: s)
        invites.append(bundle)
        previous = bundle
        tokens.append(token)
    }
    var space = MemberSpace(importerToken: tokens[0], admin: admin, adminLog: log)
    space.controls = invites
    // Member 1 imports (its join is made by the replica itself); member 2 writes; the rest join.
    var writer: Membership?
    for token in tokens.dropFirst() {
        let (member, join) = try Membership.joinMember(token, name: "device", stamp: stamp())
        space.controls.append(join)
        if writer == nil { writer = member }
    }
    space.controls.insert(genesis, at: 0)
    let author = writer!
    var rng = SeededGenerator(seed: seed)
    var last: ChangeBundle? = space.controls.first { $0.author == author.device.publicKey }
    let key = author.handedEpochKeys.first
    let replicaID = ReplicaID(bytes: author.device.publicKey.bytes)!
    for _ in 0..<bundles {
        var batch: [RecordOperation] = []
        for _ in 0..<ops {
            let t = stamp()
            let record = RecordID(high: 7, low: UInt64.random(in: 0..<10_000, using: &rng))
            batch.append(
                RecordOperation(
                    stamp: Stamp(hlc: t, replica: replicaID), collection: "items", record: record,
                    action: .set(field: "v", value: .int(Int64(t.milliseconds)))))
        }
        let bundle = try ChangeBundle.sealMember(batch, author: author.device, spaceID: admin.spaceID, previous: last, epoch: key)
        space.data.append(bundle)
        last = bundle
    }
    return space
}

func runMembersSuite(_ options: Options) {
    let o = MembersOptions(options.extra)
    do {
        try runBlocking {
            var rows: [(String, Double)] = []
            var medians: [Int: Double] = [:]
            let sizes = [3, o.members]
            var spaces: [Int: MemberSpace] = [:]
            for count in sizes { spaces[count] = try buildMemberSpace(members: count, bundles: o.bundles, ops: o.ops, seed: options.seed) }
            // Runs alternate between the two spaces, so neither always goes first.
            var times: [Int: [Double]] = [:]
            for run in 0..<o.runs {
                for count in (run % 2 == 0 ? sizes : sizes.reversed()) {
                    let space = spaces[count]!
                    let path = o.dir + "/members-\(count)-\(run)"
                    let replica = try await Replica.join(space.importerToken, at: path, name: "importer")
                    try await replica.import(space.controls.map(\.bytes))
                    let start = now()
                    let summary = try await replica.import(space.data.map(\.bytes))
                    times[count, default: []].append(now() - start)
                    guard summary.applied == o.bundles else { fail("members suite: \(summary) for \(count) members") }
                }
            }
            for count in sizes {
                let median = times[count]!.sorted()[times[count]!.count / 2]
                medians[count] = median
                print(
                    "{\"suite\": \"members\", \"members\": \(count), \"bundles\": \(o.bundles), \"ops\": \(o.ops), \"import_seconds\": \(median)}"
                )
                rows.append(("import \(o.bundles) bundles x \(o.ops) ops, \(count) members", median))
            }
            let overhead = medians[o.members]! / medians[3]! - 1
            // A rotation in the big space.
            let space = try buildMemberSpace(members: o.members, bundles: 1, ops: 1, seed: options.seed)
            let records = space.controls.compactMap { try? $0.membershipRecord(encrypted: true) }
            let state = MembershipState.evaluate(ops: records, spaceID: space.admin.spaceID, encrypted: true)
            let context = MemberContext(state: state, records: records, heads: [space.admin.device.publicKey: UInt64(o.members)])
            var rotationTimes: [Double] = []
            var size = 0
            for _ in 0..<o.runs {
                let start = now()
                let op = try space.admin.rotation(
                    context: context, stamp: HLCTimestamp(milliseconds: SystemClock().nowMilliseconds(), counter: 0))
                rotationTimes.append(now() - start)
                size = op.encoded().count
            }
            let rotation = rotationTimes.sorted()[rotationTimes.count / 2]
            print(
                "{\"suite\": \"members\", \"rotation_members\": \(state.members.count), \"rotation_seconds\": \(rotation), \"rotation_bytes\": \(size)}"
            )
            print("")
            print("| measurement | median |")
            print("|---|---|")
            for (name, seconds) in rows { print("| \(name) | \(String(format: "%.3f s", seconds)) |") }
            print("| membership overhead on import (\(o.members) vs 3 members) | \(String(format: "%.1f%%", overhead * 100)) |")
            print("| rotation to \(state.members.count) members: build | \(String(format: "%.3f s", rotation)) |")
            print("| rotation to \(state.members.count) members: payload | \(size) bytes |")
            print("")
            print(
                "goal: membership overhead under 10% of import: \(overhead < 0.10 ? "PASS" : "MISS") (\(String(format: "%.1f%%", overhead * 100)))"
            )
            print(
                "goal: rotation to \(state.members.count) members under 1 s: \(rotation < 1 ? "PASS" : "MISS") (\(String(format: "%.3f s", rotation)))"
            )
            print("goal: rotation payload under 200 KB: \(size < 200_000 ? "PASS" : "MISS") (\(size) bytes)")
        }
    } catch {
        fail("members suite failed: \(error)")
    }
}
