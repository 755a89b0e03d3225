// classroom-example: an offline classroom on the Concord library API.
//
// Learners' tablets record course progress offline for days (no network in the
// village). When a tablet is back in range it syncs through the school's relay; the
// teacher's replica, live-synced to the relay, sees everyone's progress arrive and
// prints the class table. The teacher is the space's admin (Specs/membership.md): she
// invites each tablet as a writer, and when a tablet is lost she removes it; the class
// keeps syncing, and the lost tablet, found again, can neither push nor read anything
// written after its removal. The relay here is started in-process on 127.0.0.1 with its
// default embedded SQLite storage, exactly as `concord relay serve` runs it.
//
// The space has a permission policy (Specs/permissions.md), written with the Swift
// `Policy` builder: it is Examples/policies/classroom.json. Tablets join as `learner`s: they
// may create results (with ids bound to themselves, `Replica.newRecordID()`), change only
// their own, and never write a grade. A learner's grade change is refused on the tablet
// itself (`policyDenied`, nothing written); a tampered tablet that signs one anyway sees it
// ignored by everyone. `teacher_notes` is a read scope: its changes are sealed under a key
// only teachers and admins hold, so the tablets store the teacher's notes without being
// able to read them (and the relay reads nothing at all).
//
//   swift run classroom-example            (part of `make test`)
import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Logging

/// One learner's result for one lesson: the record the tablets write, in collection
/// `results`. Its id comes from the tablet's `newRecordID()`: bound to the tablet, so the
/// policy's `update: own` lets it (and only it) change the record. The teacher adds a
/// `grade` field, which learners may not write.
struct LessonProgress: Codable, Identifiable, Equatable {
    var id: UUID
    var learner: String
    var lesson: Int
    var score: Int
    var day: Int
}

struct ExampleFailure: Error, CustomStringConvertible {
    let description: String
}

@main
struct ClassroomExample {
    static func main() async throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("concord-classroom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        var logger = Logger(label: "classroom-relay")
        logger.logLevel = .warning

        print("1. The school's relay starts (embedded SQLite).")
        let storage = try await RelayStorageURL.open("sqlite:" + root.appendingPathComponent("relay.sqlite").path, logger: logger)
        var configuration = RelayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let relay = try await RelayServer(configuration: configuration, storage: storage, logger: logger).start()
        let url = relay.url()
        print("   listening on \(url)")

        print("2. The teacher creates the class space (she is its admin), sets the classroom policy and invites three tablets as learners for a week.")
        let teacher = try await Replica.create(at: root.appendingPathComponent("teacher").path, name: "Ms Dlamini's laptop")
        // Examples/policies/classroom.json, in Swift.
        let classroom = try Policy {
            PolicyRole("learner", base: .writer)
            PolicyRole("teacher", base: .writer)
            InOtherCollections { Grant("teacher", .all) }
            InCollection("results") {
                Grant("learner", create: .own, update: .own, fields: .deny(["grade"]))
                Grant("teacher", .all)
            }
            InCollection("teacher_notes", readableBy: "teacher") { Grant("teacher", .all) }
        }
        try await teacher.setPolicy(classroom)
        for line in classroom.sentences { print("   policy: \(line)") }
        let learner = try RoleAssignment(named: "learner", base: .writer)
        let names = ["Amina", "Bo", "Chidi"]
        var tablets: [String: Replica] = [:]
        for name in names {
            let token = try await teacher.invite(role: learner, expiresIn: 7 * 86_400_000)
            tablets[name] = try await Replica.join(token, at: root.appendingPathComponent(name).path, name: "\(name)'s tablet")
        }
        // At school, online: the teacher's invites reach the relay, each tablet syncs once
        // (its join reaches the relay; it learns it is admitted), and the teacher learns
        // who joined.
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        for name in names { _ = try await SyncEngine(replica: tablets[name]!, relay: url).syncNow() }
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        for member in try await teacher.members() {
            print("   member: \(member.name) (\(member.role))")
        }

        // The teacher is online: live sync, printing each learner's result as it arrives.
        let teacherSync = SyncEngine(replica: teacher, relay: url)
        await teacherSync.start()
        let arrivals = await teacher.changes(in: "results")
        let expectedResults = names.count * 3 * 2  // two lessons a day for three days
        let watcher = Task {
            var seen = 0
            for await batch in arrivals {
                for change in batch where change.origin != .local && change.kind == .inserted {
                    seen += 1
                    if let progress = try? await teacher.fetch(LessonProgress.self, id: change.id.uuid, in: "results") {
                        print("   [teacher sees] \(progress.learner): lesson \(progress.lesson), score \(progress.score) (day \(progress.day))")
                    }
                }
                if seen >= expectedResults { break }
            }
            return seen
        }

        print("3. Three days offline: every tablet records lessons without a network.")
        var written = 0
        for day in 1...3 {
            for (index, name) in names.enumerated() {
                let lesson = (day - 1) * 2 + 1
                for offset in 0..<2 {
                    let tablet = tablets[name]!
                    try await tablet.save(LessonProgress(id: tablet.newRecordID().uuid, learner: name, lesson: lesson + offset, score: 60 + (index * 7 + day * 5 + offset * 3) % 40, day: day), in: "results")
                    written += 1
                }
            }
        }
        for name in names {
            let pending = try await tablets[name]!.status().pendingOperations
            print("   \(name)'s tablet: \(pending) changes waiting for a network")
        }

        print("4. Back in range: each tablet syncs once through the relay.")
        for name in names {
            let summary = try await SyncEngine(replica: tablets[name]!, relay: url).syncNow()
            print("   \(name): \(summary)")
        }

        // Live sync delivers to the teacher within moments; wait at most 10 seconds.
        let deadline = Date().addingTimeInterval(10)
        while try await teacher.count(matching: RecordQuery("results")) < written, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        await teacherSync.stop()
        // Let the watcher print the last arrivals before the table (at most 5 s more).
        let stopWatching = Task {
            try await Task.sleep(for: .seconds(5))
            watcher.cancel()
        }
        _ = await watcher.value
        stopWatching.cancel()

        print("5. The teacher's class table:")
        let all = try await teacher.all(LessonProgress.self, in: "results")
        for name in names {
            let mine = all.filter { $0.learner == name }.sorted { $0.lesson < $1.lesson }
            let average = mine.isEmpty ? 0 : mine.map(\.score).reduce(0, +) / mine.count
            print("   \(name.padding(toLength: 6, withPad: " ", startingAt: 0)) lessons done: \(mine.count)  average score: \(average)  " + mine.map { "L\($0.lesson):\($0.score)" }.joined(separator: " "))
        }
        guard all.count == written else {
            throw ExampleFailure(description: "the teacher has \(all.count) of \(written) results")
        }

        print("6. Tablets sync again and see the whole class; every replica is identical.")
        let expected = try await teacher.state()
        for name in names {
            _ = try await SyncEngine(replica: tablets[name]!, relay: url).syncNow()
            guard try await tablets[name]!.state() == expected else {
                throw ExampleFailure(description: "\(name)'s tablet did not converge with the teacher")
            }
        }

        print("7. The teacher grades Amina's lesson 1. Amina tries to raise her grade: her own tablet refuses (the policy), nothing is written.")
        let amina = tablets["Amina"]!
        guard let aminaLesson1 = all.first(where: { $0.learner == "Amina" && $0.lesson == 1 }) else {
            throw ExampleFailure(description: "Amina's lesson 1 is missing")
        }
        let gradedID = RecordID(aminaLesson1.id)
        try await teacher.write { @Sendable tx in try tx.set("grade", to: "B", record: gradedID, in: "results") }
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        do {
            try await amina.write { @Sendable tx in try tx.set("grade", to: "A", record: gradedID, in: "results") }
            throw ExampleFailure(description: "Amina's tablet let a learner write a grade")
        } catch let error as ConcordError where error.code == .policyDenied {
            print("   Amina's tablet: \(error.message)")
        }
        // Her own score she may still change (update: own; the record's id is bound to her tablet).
        var corrected = aminaLesson1
        corrected.score += 1
        try await amina.save(corrected, in: "results")
        guard try await amina.record(gradedID, in: "results")?["grade"]?.stringValue == "B" else {
            throw ExampleFailure(description: "Amina's grade changed on her tablet")
        }
        print("   her grade is still B; her corrected score is saved")

        print("8. Bo's tablet is tampered with: it signs an A+ for itself below the library's check. The relay forwards it (it holds no policy); everyone ignores it.")
        let bo = tablets["Bo"]!
        guard let boLesson1 = all.first(where: { $0.learner == "Bo" && $0.lesson == 1 }) else {
            throw ExampleFailure(description: "Bo's lesson 1 is missing")
        }
        let forgedID = RecordID(boLesson1.id)
        try await bo.writeBypassingPolicy { @Sendable tx in try tx.set("grade", to: "A+", record: forgedID, in: "results") }
        _ = try await SyncEngine(replica: bo, relay: url).syncNow()
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        for (who, replica) in [("the teacher", teacher), ("Amina's tablet", amina)] {
            let grade = try await replica.record(forgedID, in: "results")?["grade"]
            let denied = try await replica.deniedOperations(by: bo.deviceID)
            guard grade == nil, denied.count == 1 else {
                throw ExampleFailure(description: "\(who) applied Bo's forged grade (\(String(describing: grade)), \(denied.count) denials)")
            }
            print("   \(who): ignored, recorded as denied: \(denied[0].denial.message)")
        }

        print("9. The teacher keeps a note on Bo in `teacher_notes`, readable only by teachers and admins: the tablets store it sealed and cannot read it, nor write there.")
        let note = RecordID.random()
        try await teacher.write { @Sendable tx in try tx.set("text", to: "Bo: go over lesson 1 with him", record: note, in: "teacher_notes") }
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        let unread = try await amina.unreadSections()
        guard try await teacher.record(note, in: "teacher_notes")?["text"] == "Bo: go over lesson 1 with him",
            try await amina.record(note, in: "teacher_notes") == nil, !unread.isEmpty
        else {
            throw ExampleFailure(description: "the note is not the teacher's alone (Amina's tablet holds \(unread.count) unread sections)")
        }
        print("   Amina's tablet stores \(unread.count) sealed section\(unread.count == 1 ? "" : "s") it cannot open; the note is not in its records")
        do {
            try await amina.write { @Sendable tx in try tx.set("text", to: "hi", record: .random(), in: "teacher_notes") }
            throw ExampleFailure(description: "Amina's tablet wrote to teacher_notes")
        } catch let error as ConcordError where error.code == .policyDenied {
            print("   Amina's tablet: \(error.message)")
        }

        print("10. Chidi's tablet is lost. Offline, whoever has it writes a result; the teacher removes the tablet.")
        let lost = tablets["Chidi"]!
        try await lost.save(LessonProgress(id: lost.newRecordID().uuid, learner: "Chidi", lesson: 7, score: 100, day: 4), in: "results")
        try await teacher.removeMember(lost.deviceID)
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        print("   members now: " + (try await teacher.members()).map { "\($0.name) (\($0.status.rawValue))" }.joined(separator: ", "))

        print("11. The class keeps syncing: Amina records lesson 7 under the new key; the teacher gets it.")
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        try await amina.save(LessonProgress(id: amina.newRecordID().uuid, learner: "Amina", lesson: 7, score: 91, day: 4), in: "results")
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        let aminaLesson7 = try await teacher.all(LessonProgress.self, in: "results").contains { $0.learner == "Amina" && $0.lesson == 7 }
        guard aminaLesson7 else { throw ExampleFailure(description: "the teacher did not get Amina's lesson 7") }
        print("   the teacher has Amina's lesson 7")

        print("12. The lost tablet is found and tries to sync: the relay refuses it; nothing it wrote after, nothing new reaches it.")
        do {
            _ = try await SyncEngine(replica: lost, relay: url).syncNow()
            throw ExampleFailure(description: "the relay accepted the removed tablet")
        } catch let error as ConcordSyncError where error.relayCode == "removed" {
            print("   relay: 403 removed: \(error.message)")
        }
        let afterRemoval = try await teacher.all(LessonProgress.self, in: "results").contains { $0.learner == "Chidi" && $0.lesson == 7 }
        let readsNew = try await lost.all(LessonProgress.self, in: "results").contains { $0.learner == "Amina" && $0.lesson == 7 }
        guard !afterRemoval, !readsNew else {
            throw ExampleFailure(description: "the removed tablet's write reached the teacher (\(afterRemoval)) or Amina's new result reached it (\(readsNew))")
        }
        print("   the teacher never got the lost tablet's lesson 7, and the tablet never got Amina's")
        await relay.stop()
        await storage.close()
        print("classroom example: converged (\(written) results from \(names.count) learners reached the teacher through the relay; a learner's grade was refused on her tablet, a forged one ignored everywhere; the teacher's note stayed hers; the lost tablet was removed)")
    }
}
