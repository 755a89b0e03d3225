import Concord
import ConcordSync
import Foundation
import Testing

/// A fresh temporary directory, removed by the caller with `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path + "/concord-sync-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// What must not change when a file is rejected.
struct Snapshot: Equatable {
    var vector: VersionVector
    var bundles: Int
    var digest: String

    init(_ replica: Replica) async throws {
        vector = try await replica.versionVector()
        bundles = try await replica.bundleCount()
        digest = try await replica.state().digestHex
    }
}

/// Two replicas of one space (A created it, B joined), each with a few writes.
func twoReplicas(in dir: TemporaryDirectory, options: Replica.Options = Replica.Options()) async throws -> (Replica, Replica) {
    let a = try Replica.createWithoutMembers(at: dir.file("a"), options: options)
    let b = try Replica.join(try await a.invite(), at: dir.file("b"), options: options)
    return (a, b)
}

func writeSome(_ replica: Replica, records: Int = 3, tag: String) async throws {
    for i in 0..<records {
        let id = RecordID(high: UInt64(i + 1), low: 0x8000_0000_0000_0000)
        try await replica.write { tx in
            try tx.set("title", to: .string("\(tag) \(i)"), record: id, in: "todos")
            try tx.add(.string(tag), to: "tags", record: id, in: "todos")
        }
        try await replica.seal()
    }
}

/// Waits until `condition` holds, up to `seconds`; its last answer.
func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
