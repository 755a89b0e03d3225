// The verification suite (issue 18.5): a classroom's sync of many small bundles, and the
// share of the receiving device's import spent verifying bundles, by how the learners'
// writes were sealed. Driven by Benchmarks/verify.py; one JSON object per line:
// {"suite": "verify", "mode": ..., ...}.
//
//   concord-bench --suite verify [--learners 30] [--answers 20] [--burst 4] [--per-sync 5]
//                 [--format 3] [--dir D] [--seed S]
//
// --format 3 (the default): a space with members, the kind `concord init` and
// `Replica.create(at:name:)` make: an admin invites the learners and the teacher, who join
// and hold the membership (the admin's control bundles and the learners' join bundles)
// before the timed import; bundles carry no certificate chain, roles come from the
// membership. --format 2: a space without members (made by earlier versions), every
// learner's first bundle carrying its certificate chain.
//
// Each learner (a writer of one encrypted space) answers `answers` questions; an answer is
// a burst of `burst` writes to its answer record (the text as it is typed, then marked
// done with a score and the learner's progress). The same writes are sealed three ways,
// each by a learner `Replica` calling `seal()` where the library seals:
//   write   one bundle per write: a live engine whose device writes further apart than
//           the push debounce's quiet time (every write, before issue 18.5's debounce,
//           when writes were more than 0.1 s apart)
//   burst   one bundle per answer: the live engine's quiet-period debounce
//           (`SyncEngine.Options.pushDebounce`, capped by `maxPushDelay`) seals a burst
//   sync    one bundle per `per-sync` answers: a tablet offline between syncs, whose sync
//           seals everything pending (Examples/Classroom)
// The teacher, a device joining with a fresh SQLite replica in D, imports the class's
// bundles in the relay's order (learners interleaved, as they pushed) in pages of 4 MiB,
// the way a relay pull does (`import(_:sealingFirst:fromRelay:)`, one store transaction
// per page). Then the same bytes are verified again, alone, in the same order:
// `BundleVerifier.verify` (decode, Ed25519 signature, the certificate chain on the first
// bundle of each device, clock drift), and the Ed25519 signature alone.
import Concord
import ConcordCore
import ConcordCrypto
import Foundation

struct VerifyOptions {
    var learners = 30
    var answers = 20
    var burst = 4
    var perSync = 5
    var format = 3
    var dir = ""

    init(_ extra: [String]) {
        var i = 0
        while i + 1 < extra.count {
            let (flag, text) = (extra[i], extra[i + 1])
            switch flag {
            case "--learners": learners = max(1, number(text, flag))
            case "--answers": answers = max(1, number(text, flag))
            case "--burst": burst = max(1, number(text, flag))
            case "--per-sync": perSync = max(1, number(text, flag))
            case "--format":
                format = number(text, flag)
                guard format == 2 || format == 3 else { fail("--format is 2 or 3") }
            case "--dir": dir = text
            default: fail("unknown --suite verify flag \(flag)")
            }
            i += 2
        }
        guard !dir.isEmpty else { fail("--suite verify needs --dir D (an empty directory for the teacher's replica)") }
    }
}

/// How the learners' writes are sealed.
enum SealingMode: String, CaseIterable {
    case write, burst, sync
}

func runVerifySuite(_ options: Options) {
    let o = VerifyOptions(options.extra)
    do {
        try runBlocking {
            var learnerOptions = Replica.Options()
            learnerOptions.autoSealOperationCount = nil
            if o.format == 2 {
                let owner = Membership.createSpace(encrypted: true)
                var memberships: [Membership] = []
                for _ in 0..<o.learners { memberships.append(try Membership.join(try owner.writerInvite())) }
                for mode in SealingMode.allCases {
                    var learners: [Replica] = []
                    for membership in memberships {
                        learners.append(try Replica(store: MemoryStore(), membership: membership, options: learnerOptions))
                    }
                    let bundles = try await classroomBundles(mode, learners: learners, o)
                    let teacher = try Replica.join(try owner.writerInvite(), at: "\(o.dir)/teacher-\(mode.rawValue)")
                    try await measureImport(mode, bundles, into: teacher, spaceID: owner.spaceID, o)
                }
                return
            }
            // A space with members: the admin invites everyone; each device holds the
            // membership (control and join bundles) before the class writes.
            for mode in SealingMode.allCases {
                let root = "\(o.dir)/\(mode.rawValue)"
                let admin = try await Replica.create(at: root + "/admin", name: "admin laptop")
                var learners: [Replica] = []
                for index in 0..<o.learners {
                    let token = try await admin.invite(role: .writer)
                    learners.append(
                        try await Replica.join(token, at: root + "/learner-\(index)", name: "learner \(index)", options: learnerOptions))
                }
                let teacher = try await Replica.join(try await admin.invite(role: .writer), at: root + "/teacher", name: "teacher")
                var membership: [[UInt8]] = []
                for try await bundle in try await admin.bundles() { membership.append(bundle.bytes) }
                for learner in learners { membership.append(try learner.ownFirstBundle()!.bytes) }
                for device in learners + [teacher] {
                    let summary = try await device.import(membership)
                    guard summary.rejected.isEmpty else { fail("a device refused the membership: \(summary)") }
                }
                let bundles = try await classroomBundles(mode, learners: learners, o)
                try await measureImport(mode, bundles, into: teacher, spaceID: admin.spaceID, o)
            }
        }
    } catch {
        fail("verify suite failed: \(error)")
    }
}

/// The class's bundles in the order the learners pushed them: answer by answer, each
/// learner's bundles of that answer in turn.
func classroomBundles(_ mode: SealingMode, learners replicas: [Replica], _ o: VerifyOptions) async throws -> [[UInt8]] {
    var order: [[UInt8]] = []
    for question in 0..<o.answers {
        for (index, replica) in replicas.enumerated() {
            let answer = RecordID(high: 0x00A5_0000_0000_4000 | UInt64(index), low: 0x8000_0000_0000_0000 | UInt64(question))
            let progress = RecordID(high: 0x00B5_0000_0000_4000 | UInt64(index), low: 0x8000_0000_0000_0000)
            let text = "answer \(question) of learner \(index): the river floods in spring"
            for step in 0..<o.burst {
                try await replica.write { tx in
                    if step < o.burst - 1 || o.burst == 1 {
                        let typed = text.prefix(text.count * (step + 1) / max(1, o.burst - 1))
                        try tx.set(["text": .string(String(typed)), "edited": .int(Int64(step))], record: answer, in: "answers")
                    }
                    if step == o.burst - 1 {
                        try tx.set(["done": .bool(true), "score": .int(Int64((question * 7 + index) % 10))], record: answer, in: "answers")
                        try tx.set("question", to: .int(Int64(question)), record: progress, in: "progress")
                    }
                }
                if mode == .write { order += try await replica.seal().map(\.bytes) }
            }
            let syncs = mode == .sync && (question % o.perSync == o.perSync - 1 || question == o.answers - 1)
            if mode == .burst || syncs { order += try await replica.seal().map(\.bytes) }
        }
    }
    return order
}

/// The teacher's import of `bundles`, then the same bundles verified alone.
func measureImport(_ mode: SealingMode, _ bundles: [[UInt8]], into teacher: Replica, spaceID: SpaceID, _ o: VerifyOptions) async throws {
    // Pages of at most 4 MiB, as `RelayClient.Options.pullPageBytes` cuts a pull.
    var pages: [[[UInt8]]] = [[]]
    var pageBytes = 0
    for bytes in bundles {
        if pageBytes + bytes.count > 4 << 20 && !pages[pages.count - 1].isEmpty {
            pages.append([])
            pageBytes = 0
        }
        pages[pages.count - 1].append(bytes)
        pageBytes += bytes.count
    }
    var summary = ImportSummary()
    let (start, startCPU) = (now(), processCPUSeconds())
    for page in pages { summary.add(try await teacher.import(page, sealingFirst: true, fromRelay: true)) }
    let (importSeconds, importCPU) = (now() - start, processCPUSeconds() - startCPU)
    guard summary.applied == bundles.count, summary.rejected.isEmpty, summary.held == 0 else {
        fail("the teacher did not apply every bundle (\(mode.rawValue)): \(summary)")
    }

    // The same bytes verified again, alone, in the same order; a device's certificate
    // chain is verified on its first bundle and then trusted, as the import does.
    let verifier = BundleVerifier(spaceID: spaceID, format: UInt8(o.format))
    var trusted = Set<Digest32>()
    var decoded: [ChangeBundle] = []
    decoded.reserveCapacity(bundles.count)
    let (verifyStart, verifyStartCPU) = (now(), processCPUSeconds())
    for bytes in bundles {
        let bundle = try verifier.verify(bytes, trustedChains: trusted)
        if let chain = bundle.certificates { trusted.insert(chain.digest) }
        decoded.append(bundle)
    }
    let (verifySeconds, verifyCPU) = (now() - verifyStart, processCPUSeconds() - verifyStartCPU)
    let signatureStart = now()
    for bundle in decoded { try bundle.verifySignature() }
    let signatureSeconds = now() - signatureStart

    let bytes = bundles.reduce(0) { $0 + $1.count }
    let fields: [(String, String)] = [
        ("suite", quoted("verify")), ("mode", quoted(mode.rawValue)), ("format", "\(o.format)"), ("learners", "\(o.learners)"),
        ("answers", "\(o.answers)"),
        ("burst", "\(o.burst)"), ("writes", "\(o.learners * o.answers * o.burst)"), ("bundles", "\(bundles.count)"),
        ("ops_applied", "\(summary.operationsApplied)"), ("bundle_bytes", "\(bytes)"), ("import_s", "\(importSeconds)"),
        ("verify_s", "\(verifySeconds)"), ("ed25519_s", "\(signatureSeconds)"), ("share", "\(verifySeconds / importSeconds)"),
        ("ed25519_share", "\(signatureSeconds / importSeconds)"), ("import_cpu_s", "\(importCPU)"), ("verify_cpu_s", "\(verifyCPU)"),
        ("cpu_share", "\(verifyCPU / importCPU)"),
    ]
    emit(fields)
}
