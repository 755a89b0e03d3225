import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 12.3 through the real binary: bundle files read in bounded memory, FIFOs,
/// devices and sockets never opened blocking, names that are not UTF-8, spoofed folder
/// names, exports that would replace a device, store permissions.
@Suite("concord and hostile files (real binary)", .serialized)
struct HostileFilesCLITests {
    /// Peak memory a command may use while rejecting a file of hundreds of megabytes
    /// (the debug binary alone takes a few tens of MiB); reading the file whole costs
    /// its size on top.
    static let memoryBound = 120 << 20

    /// Whether `peak` is within ``memoryBound``, or no more than what any run spawned
    /// by this test process reports (``CLI/memoryFloor()``, measured after it).
    static func withinBound(_ peak: Int, _ cli: CLI) async throws -> Bool {
        if peak < memoryBound { return true }
        return peak <= (try await cli.memoryFloor())
    }

    /// Two stores of one space, `a` with a record; `a`'s export in `a.concord`.
    static func twoDevices(_ scratch: Scratch, _ cli: CLI) throws -> (Device, Device, String) {
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        try a.ok("init", "--format", "2")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        try a.ok("put", "todos", "00000000-0000-4000-8000-000000000001", "title=\"from a\"")
        try a.ok("export", scratch.file("a.concord"))
        return (a, b, "00000000-0000-4000-8000-000000000001")
    }

    static func spaceID(_ device: Device) throws -> [UInt8] {
        let json = try device.ok("status", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let hex = try #require(object?["space"] as? String)
        return stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
    }

    @Test("a 200 MB file is rejected in bounded memory: zeros by its magic, a bundle-file header by its checksum")
    func largeFilesAreRejectedInBoundedMemory() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, _, _) = try Self.twoDevices(scratch, cli)
        let size = 200 << 20
        try Fixture.sparseFile(scratch.file("zeros.concord"), size: size)
        let zeros = try await a.runBounded("import", scratch.file("zeros.concord"))
        #expect(zeros.status == 2 && zeros.stderr.contains("not a Concord bundle file"), "\(zeros.stderr)")
        #expect(try await Self.withinBound(zeros.peakMemory, cli), "rejecting 200 MB of zeros took \(zeros.peakMemory >> 20) MiB")

        let header = Array("CNCF".utf8) + [1] + (try Self.spaceID(a))
        try Fixture.sparseFile(scratch.file("header.concord"), size: size, prefix: header)
        let damaged = try await a.runBounded("import", scratch.file("header.concord"))
        #expect(damaged.status == 2 && damaged.stderr.contains("checksum"), "\(damaged.stderr)")
        #expect(try await Self.withinBound(damaged.peakMemory, cli), "rejecting a 200 MB damaged file took \(damaged.peakMemory >> 20) MiB")
    }

    /// The damaged file of ``hugeFileDoesNotAbortSyncFolder()``: 1 GiB (3 GiB, the size of
    /// issue 12.3's report, with `CONCORD_SOAK` set). Bounded memory does not depend on
    /// the size; hashing 3 GiB in a debug build costs a core for a minute, which slows
    /// the timing-sensitive suites running beside this one.
    static var hugeFileSize: Int { ProcessInfo.processInfo.environment["CONCORD_SOAK"] == nil ? 1 << 30 : 3 << 30 }

    @Test("a damaged file of gigabytes in the folder is rejected and sync-folder imports the rest, in bounded memory")
    func hugeFileDoesNotAbortSyncFolder() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, b, id) = try Self.twoDevices(scratch, cli)
        let folder = scratch.file("shared")
        try a.ok("sync-folder", folder)
        let header = Array("CNCF".utf8) + [1] + (try Self.spaceID(a))
        try Fixture.sparseFile(folder + "/huge.concord", size: Self.hugeFileSize, prefix: header)
        let result = try await b.runBounded("sync-folder", folder, timeout: 900)
        #expect(!result.timedOut)
        #expect(result.status == 2 && result.stderr.contains("huge.concord") && result.stderr.contains("checksum"), "\(result.stderr)")
        #expect(result.stdout.contains("applied 1"), "\(result.stdout)")
        #expect(try await Self.withinBound(result.peakMemory, cli), "sync-folder with a \(Self.hugeFileSize >> 30) GiB file took \(result.peakMemory >> 20) MiB")
        #expect(try b.ok("get", "todos", id).contains("from a"))
    }

    @Test("FIFOs, sockets and devices in a folder are skipped with a warning, never opened")
    func specialFilesInAFolderAreSkipped() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, b, id) = try Self.twoDevices(scratch, cli)
        let folder = scratch.file("shared")
        try a.ok("sync-folder", folder)
        try Fixture.fifo(folder + "/x.concord")
        try Fixture.socket(folder + "/s.concord")
        if Fixture.canMakeDevices { try Fixture.nullDevice(folder + "/d.concord") }

        let imported = try await b.runBounded("import", folder, timeout: 60)
        #expect(!imported.timedOut, "import blocked on a FIFO")
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stderr.contains("x.concord") && imported.stderr.contains("FIFO"), "\(imported.stderr)")
        #expect(imported.stderr.contains("s.concord") && imported.stderr.contains("socket"), "\(imported.stderr)")
        if Fixture.canMakeDevices { #expect(imported.stderr.contains("d.concord") && imported.stderr.contains("character device")) }
        #expect(imported.stdout.contains("applied 1"), "\(imported.stdout)")

        let c = Device(cli: cli, store: scratch.file("c"))
        try c.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        let synced = try await c.runBounded("sync-folder", folder, timeout: 60)
        #expect(!synced.timedOut, "sync-folder blocked on a FIFO")
        #expect(synced.status == 0, "\(synced.stderr)")
        #expect(synced.stderr.contains("warning: skipped x.concord"), "\(synced.stderr)")
        #expect(try c.ok("get", "todos", id).contains("from a"))
        #expect(Fixture.kind(folder + "/x.concord") == S_IFIFO)

        // Named on the command line: refused at once, nothing read.
        let direct = try await b.runBounded("import", folder + "/x.concord", timeout: 60)
        #expect(!direct.timedOut && direct.status == 1 && direct.stderr.contains("FIFO"), "\(direct.stderr)")
    }

    @Test("a FIFO in place of device.key or replica.sqlite makes commands fail at once, naming the file")
    func fifoInTheStoreDoesNotHang() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, _, _) = try Self.twoDevices(scratch, cli)
        let key = a.store + "/device.key"
        try FileManager.default.moveItem(atPath: key, toPath: scratch.file("device.key.saved"))
        try Fixture.fifo(key)
        let result = try await a.runBounded("status", timeout: 60)
        #expect(!result.timedOut, "status blocked on a FIFO device.key")
        #expect(result.status == 1 && result.stderr.contains("device.key") && result.stderr.contains("FIFO"), "\(result.stderr)")
        #expect(!result.stderr.contains("concord init"))
        unlink(key)
        try FileManager.default.moveItem(atPath: scratch.file("device.key.saved"), toPath: key)
        try a.ok("status")

        let database = a.store + "/replica.sqlite"
        try FileManager.default.moveItem(atPath: database, toPath: scratch.file("replica.sqlite.saved"))
        try Fixture.fifo(database)
        let store = try await a.runBounded("list", "todos", timeout: 60)
        #expect(!store.timedOut, "list blocked on a FIFO replica.sqlite")
        #expect(store.status == 1 && store.stderr.contains("replica.sqlite") && store.stderr.contains("FIFO"), "\(store.stderr)")
    }

    @Test("bundle files whose names are not UTF-8 import, by import DIR and sync-folder")
    func nonUTF8NamesImport() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, b, id) = try Self.twoDevices(scratch, cli)
        let folder = scratch.file("shared")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // "café.concord" in Latin-1: 0xE9 alone is not UTF-8.
        let name = Array("caf".utf8) + [0xE9] + Array(".concord".utf8)
        try Fixture.rename(scratch.file("a.concord"), toRawName: name, in: folder)
        #expect(Fixture.rawNames(in: folder) == [name])

        let imported = try await b.runBounded("import", folder, timeout: 120)
        #expect(imported.status == 0 && imported.stdout.contains("applied 1"), "\(imported.stdout)\n\(imported.stderr)")
        #expect(try b.ok("get", "todos", id).contains("from a"))

        let c = Device(cli: cli, store: scratch.file("c"))
        try c.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        let synced = try await c.runBounded("sync-folder", folder, timeout: 120)
        #expect(synced.status == 0 && synced.stdout.contains("applied 1"), "\(synced.stdout)\n\(synced.stderr)")
        #expect(try c.ok("get", "todos", id).contains("from a"))
    }

    @Test("sync-folder writes what its store says is missing: a spoofed file with its own name does not silence it")
    func spoofedOwnNameDoesNotSilenceSyncFolder() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, b, id) = try Self.twoDevices(scratch, cli)
        let folder = scratch.file("shared")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let status = try JSONSerialization.jsonObject(with: Data(try a.ok("status", "--json").utf8)) as? [String: Any]
        let prefix = String(try #require(status?["device"] as? String).prefix(16))
        let spoof = folder + "/\(prefix)-1-1000000.concord"
        #expect(FileManager.default.createFile(atPath: spoof, contents: Data()))
        // And a junk file under the exact name a's first file would get.
        #expect(FileManager.default.createFile(atPath: folder + "/\(prefix)-1-1.concord", contents: Data([1, 2, 3])))

        let first = try a.run("sync-folder", folder)
        #expect(first.stdout.contains("wrote 1 bundle"), "\(first.stdout)\n\(first.stderr)")
        // The spoofed files are reported as the junk they are, and left in place.
        #expect(first.status == 2 && first.stderr.contains("\(prefix)-1-1000000.concord"), "\(first.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: spoof)).isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/\(prefix)-1-1.concord")) == Data([1, 2, 3]))

        // Nothing new: nothing written again.
        let second = try a.run("sync-folder", folder)
        #expect(!second.stdout.contains("wrote"), "\(second.stdout)")

        _ = try b.run("sync-folder", folder)
        #expect(try b.ok("get", "todos", id).contains("from a"))
        #expect(try a.ok("list", "todos", "--json") == b.ok("list", "todos", "--json"))
    }

    @Test("export never replaces a FIFO, a symbolic link, a directory or a device")
    func exportDoesNotReplaceSpecialFiles() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (a, _, _) = try Self.twoDevices(scratch, cli)
        let dir = scratch.file("out")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

        try Fixture.fifo(dir + "/fifo")
        let fifo = try await a.runBounded("export", dir + "/fifo", timeout: 60)
        #expect(!fifo.timedOut && fifo.status == 1 && fifo.stderr.contains("FIFO"), "\(fifo.stderr)")
        #expect(Fixture.kind(dir + "/fifo") == S_IFIFO)

        try "keep".write(toFile: dir + "/target", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/target")
        let link = try await a.runBounded("export", dir + "/link", timeout: 60)
        #expect(link.status == 1 && link.stderr.contains("symbolic link"), "\(link.stderr)")
        #expect(Fixture.kind(dir + "/link") == S_IFLNK)
        #expect(try String(contentsOfFile: dir + "/target", encoding: .utf8) == "keep")

        try FileManager.default.createSymbolicLink(atPath: dir + "/dangling", withDestinationPath: dir + "/nowhere")
        #expect(try await a.runBounded("export", dir + "/dangling", timeout: 60).status == 1)
        #expect(Fixture.kind(dir + "/dangling") == S_IFLNK)

        try FileManager.default.createDirectory(atPath: dir + "/directory", withIntermediateDirectories: false)
        #expect(try await a.runBounded("export", dir + "/directory", timeout: 60).status == 1)

        if Fixture.canMakeDevices {
            try Fixture.nullDevice(dir + "/null")
            let device = try await a.runBounded("export", dir + "/null", timeout: 60)
            #expect(device.status == 1 && device.stderr.contains("character device"), "\(device.stderr)")
            #expect(Fixture.kind(dir + "/null") == S_IFCHR)
        }
        // No temporary file is left behind; a regular file is still replaced.
        #expect(Fixture.rawNames(in: dir).allSatisfy { $0.first != 0x2E })
        try "old".write(toFile: dir + "/regular.concord", atomically: false, encoding: .utf8)
        try a.ok("export", dir + "/regular.concord")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/regular.concord")).starts(with: Array("CNCF".utf8)))
    }

    @Test("a store directory is 0700 and its files 0600, also when the directory already existed or the files were looser")
    func storeFilesArePrivate() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let store = scratch.file("x")
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let a = Device(cli: cli, store: store)
        try a.ok("init", "--format", "2")
        try a.ok("put", "todos", "00000000-0000-4000-8000-000000000001", "title=\"secret\"")
        #expect(Fixture.mode(store) == 0o700)
        let names = try FileManager.default.contentsOfDirectory(atPath: store)
        #expect(names.contains("replica.sqlite") && names.contains("device.key") && names.contains("space.key"), "\(names)")
        for name in names {
            #expect(Fixture.mode(store + "/" + name).map { $0 & 0o077 } == 0, "\(name) is \(String(Fixture.mode(store + "/" + name) ?? 0, radix: 8))")
        }

        // A store left loose (an older version, a careless copy) is tightened when opened.
        chmod(store, 0o755)
        chmod(store + "/replica.sqlite", 0o644)
        try a.ok("status")
        #expect(Fixture.mode(store) == 0o700)
        #expect(Fixture.mode(store + "/replica.sqlite") == 0o600)
    }

    @Test("the WAL and shared-memory files SQLite makes beside the database are 0600 too")
    func walFilesArePrivate() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let store = scratch.file("x")
        let a = Device(cli: cli, store: store)
        try a.ok("init", "--format", "2")
        // `sync --watch` keeps the store open (and its -wal and -shm files on disk) until
        // it is stopped; no relay is needed for the files to exist.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli.binary)
        process.arguments = ["--store", store, "sync", "http://127.0.0.1:9", "--watch"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        var seen: Set<String> = []
        for _ in 0..<200 where !seen.isSuperset(of: ["replica.sqlite-wal", "replica.sqlite-shm"]) {
            seen = Set(try FileManager.default.contentsOfDirectory(atPath: store))
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        for name in ["replica.sqlite-wal", "replica.sqlite-shm"] where seen.contains(name) {
            #expect(Fixture.mode(store + "/" + name).map { $0 & 0o077 } == 0, "\(name)")
        }
        #expect(seen.contains("replica.sqlite-wal"), "the watcher never opened the store: \(seen)")
    }
}
