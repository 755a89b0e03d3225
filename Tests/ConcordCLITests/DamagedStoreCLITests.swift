import Foundation
import Testing

/// Issue 12.3 through the real binary: damaged stores name the file and the next step.
@Suite("concord on damaged stores (real binary)", .serialized)
struct DamagedStoreCLITests {
    static func device(_ scratch: Scratch, _ cli: CLI) throws -> Device {
        let a = Device(cli: cli, store: scratch.file("a"))
        try a.ok("init", "--format", "2")
        try a.ok("put", "todos", "00000000-0000-4000-8000-000000000001", "title=\"x\"")
        try a.ok("export", scratch.file("sealed.concord"))  // seals: the log holds a bundle
        return a
    }

    func move(_ from: String, _ to: String) throws { try FileManager.default.moveItem(atPath: from, toPath: to) }

    @Test("a missing device.key or replica.sqlite is named, with how to restore it; init is never suggested")
    func missingFilesAreNamed() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = try Self.device(scratch, cli)

        try move(a.store + "/device.key", scratch.file("device.key"))
        let noKey = try a.run("list", "todos")
        #expect(noKey.status == 1, "\(noKey.stderr)")
        #expect(noKey.stderr.contains("device.key is missing") && noKey.stderr.contains("backup"), "\(noKey.stderr)")
        #expect(!noKey.stderr.contains("concord init") && !noKey.stderr.contains("no replica"), "\(noKey.stderr)")
        // init refuses the directory, and does not suggest itself either.
        let initAgain = try a.run("init")
        #expect(initAgain.status == 1 && initAgain.stderr.contains("already holds"), "\(initAgain.stderr)")
        #expect(!initAgain.stderr.contains("concord init"))
        try move(scratch.file("device.key"), a.store + "/device.key")

        try move(a.store + "/replica.sqlite", scratch.file("replica.sqlite"))
        let noDatabase = try a.run("status")
        #expect(noDatabase.status == 1 && noDatabase.stderr.contains("replica.sqlite is missing"), "\(noDatabase.stderr)")
        #expect(!noDatabase.stderr.contains("concord init"), "\(noDatabase.stderr)")
        try move(scratch.file("replica.sqlite"), a.store + "/replica.sqlite")
        try a.ok("status")

        // A directory with nothing of a replica is the one case where init is the advice.
        let empty = Device(cli: cli, store: scratch.file("empty"))
        try FileManager.default.createDirectory(atPath: empty.store, withIntermediateDirectories: true)
        let none = try empty.run("status")
        #expect(none.status == 1 && none.stderr.contains("concord init"), "\(none.stderr)")
    }

    @Test("a damaged key file is named, with how to restore it")
    func damagedKeyFileIsNamed() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = try Self.device(scratch, cli)
        let key = a.store + "/device.key"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: key))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        let result = try a.run("status")
        #expect(result.status == 1 && result.stderr.contains("device.key") && result.stderr.contains("backup"), "\(result.stderr)")
        #expect(result.stderr.contains("damaged") && !result.stderr.contains("concord init"), "\(result.stderr)")
    }

    @Test("a damaged bundle in the store is 'store damaged' (exit 1), not rejected input (exit 2)")
    func damagedStoredBundleIsStoreDamage() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = try Self.device(scratch, cli)
        // Every stored bundle starts "CNCB" 02: break that magic in the database file (no
        // process has the store open, so the WAL has been folded into it).
        let database = a.store + "/replica.sqlite"
        #expect(!FileManager.default.fileExists(atPath: database + "-wal"))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: database)))
        let magic = Array("CNCB".utf8) + [2]
        var patched = 0
        var index = 0
        while index + magic.count <= bytes.count {
            if bytes[index..<(index + magic.count)].elementsEqual(magic) {
                bytes[index] = UInt8(ascii: "X")
                patched += 1
            }
            index += 1
        }
        #expect(patched >= 1)
        try Data(bytes).write(to: URL(fileURLWithPath: database))

        let export = try a.run("export", scratch.file("out.concord"))
        #expect(export.status == 1, "exit \(export.status): \(export.stderr)")
        #expect(export.stderr.contains("store is damaged") && export.stderr.contains("replica.sqlite"), "\(export.stderr)")
        // Sealing a new write reads this device's latest stored bundle: the same.
        try a.ok("put", "todos", "00000000-0000-4000-8000-000000000002", "title=\"y\"")
        let seal = try a.run("log")
        #expect(seal.status == 1 && seal.stderr.contains("store is damaged"), "exit \(seal.status): \(seal.stderr)")
    }
}
