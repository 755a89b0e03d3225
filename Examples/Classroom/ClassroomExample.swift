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
//   swift run classroom-example            (part of `make test`)
import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Logging

/// One learner's result for one lesson: the record the tablets write.
struct LessonProgress: Codable, Identifiable, Equatable {
    var id = UUID()
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

        print("2. The teacher creates the class space (she is its admin) and invites three tablets as writers for a week.")
        let teacher = try await Replica.create(at: root.appendingPathComponent("teacher").path, name: "Ms Dlamini's laptop")
        let names = ["Amina", "Bo", "Chidi"]
        var tablets: [String: Replica] = [:]
        for name in names {
            let token = try await teacher.invite(role: .writer, expiresIn: 7 * 86_400_000)
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
        let arrivals = await teacher.changes(in: "progress")
        let expectedResults = names.count * 3 * 2  // two lessons a day for three days
        let watcher = Task {
            var seen = 0
            for await batch in arrivals {
                for change in batch where change.origin != .local && change.kind == .inserted {
                    seen += 1
                    if let progress = try? await teacher.fetch(LessonProgress.self, id: change.id.uuid, in: "progress") {
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
                    try await tablets[name]!.save(LessonProgress(learner: name, lesson: lesson + offset, score: 60 + (index * 7 + day * 5 + offset * 3) % 40, day: day), in: "progress")
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
        while try await teacher.count(matching: RecordQuery("progress")) < written, Date() < deadline {
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
        let all = try await teacher.all(LessonProgress.self, in: "progress")
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

        print("7. Chidi's tablet is lost. Offline, whoever has it writes a result; the teacher removes the tablet.")
        let lost = tablets["Chidi"]!
        try await lost.save(LessonProgress(learner: "Chidi", lesson: 7, score: 100, day: 4), in: "progress")
        try await teacher.removeMember(lost.deviceID)
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        print("   members now: " + (try await teacher.members()).map { "\($0.name) (\($0.status.rawValue))" }.joined(separator: ", "))

        print("8. The class keeps syncing: Amina records lesson 7 under the new key; the teacher gets it.")
        let amina = tablets["Amina"]!
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        try await amina.save(LessonProgress(learner: "Amina", lesson: 7, score: 91, day: 4), in: "progress")
        _ = try await SyncEngine(replica: amina, relay: url).syncNow()
        _ = try await SyncEngine(replica: teacher, relay: url).syncNow()
        let aminaLesson7 = try await teacher.all(LessonProgress.self, in: "progress").contains { $0.learner == "Amina" && $0.lesson == 7 }
        guard aminaLesson7 else { throw ExampleFailure(description: "the teacher did not get Amina's lesson 7") }
        print("   the teacher has Amina's lesson 7")

        print("9. The lost tablet is found and tries to sync: the relay refuses it; nothing it wrote after, nothing new reaches it.")
        do {
            _ = try await SyncEngine(replica: lost, relay: url).syncNow()
            throw ExampleFailure(description: "the relay accepted the removed tablet")
        } catch let error as ConcordSyncError where error.relayCode == "removed" {
            print("   relay: 403 removed: \(error.message)")
        }
        let afterRemoval = try await teacher.all(LessonProgress.self, in: "progress").contains { $0.learner == "Chidi" && $0.lesson == 7 }
        let readsNew = try await lost.all(LessonProgress.self, in: "progress").contains { $0.learner == "Amina" && $0.lesson == 7 }
        guard !afterRemoval, !readsNew else {
            throw ExampleFailure(description: "the removed tablet's write reached the teacher (\(afterRemoval)) or Amina's new result reached it (\(readsNew))")
        }
        print("   the teacher never got the lost tablet's lesson 7, and the tablet never got Amina's")
        await relay.stop()
        await storage.close()
        print("classroom example: converged (\(written) results from \(names.count) learners reached the teacher through the relay; the lost tablet was removed)")
    }
}
