import Concord
import Foundation
import Testing

/// Copied and restored stores with real `concord` processes and a real relay (issue 12.2,
/// `Specs/sync-protocol.md` §5).
@Suite("copied and restored stores (real processes)", .serialized)
struct FieldForkCLITests {
    struct Setup {
        let cli: CLI
        let scratch: Scratch
        let relay: RelayProcess
        let a: Device
        let b: Device
        let c: Device

        init() throws {
            cli = try CLI.locate()
            scratch = try Scratch()
            relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
            a = Device(cli: cli, store: scratch.file("a"))
            b = Device(cli: cli, store: scratch.file("b"))
            c = Device(cli: cli, store: scratch.file("c"))
            try a.ok("init", "--format", "2")
            let invite = try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines)
            try b.ok("join", invite)
            try c.ok("join", invite)
        }

        func tearDown() {
            relay.terminate()
            scratch.remove()
        }

        /// `cp -R` of a store directory, as a person copies a folder or restores a backup.
        func copy(_ device: Device, to name: String) throws -> Device {
            try FileManager.default.copyItem(atPath: device.store, toPath: scratch.file(name))
            return Device(cli: cli, store: scratch.file(name))
        }
    }

    @Test(
        "a store copied before a write, written on both copies: the copy's sync exits 4 naming the fork, never marks its write synced; `concord recover` brings both copies' writes to every replica"
    )
    func copiedStoreForksAndRecovers() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let (a, b, c) = (setup.a, setup.b, setup.c)
        let before = UUID().uuidString
        try a.ok("put", "notes", before, "title=\"before the copy\"")
        try a.ok("sync", setup.relay.url)
        let copy = try setup.copy(a, to: "a-copy")

        let onOriginal = UUID().uuidString
        let onCopy = UUID().uuidString
        try a.ok("put", "notes", onOriginal, "title=\"written on the original\"")
        try copy.ok("put", "notes", onCopy, "title=\"written on the copy\"")
        try copy.ok("add", "notes", onCopy, "tags", "\"copy\"")
        // The copy hands its write out on a USB stick: sealed, it is bundle 2 of the chain.
        try copy.ok("export", setup.scratch.file("usb.concord"))
        try a.ok("sync", setup.relay.url)

        // The copy's sync: exit 5, the fork named, the way out named; its write not synced.
        let forked = try copy.run("sync", setup.relay.url)
        #expect(forked.status == 5, "\(forked.stdout) \(forked.stderr)")
        #expect(forked.stderr.contains("a copy of it") && forked.stderr.contains("concord recover"), "\(forked.stderr)")
        #expect(!forked.stderr.contains("missing-predecessor"), "\(forked.stderr)")
        let status = try copy.run("status", "--json")
        #expect(status.status == 5)
        #expect(status.stdout.contains("\"kind\":\"forked\"") && status.stdout.contains("\"remedy\":\"recover\""), "\(status.stdout)")
        #expect(status.stdout.contains("\"unacknowledged_bundles\":1"), "the copy's write is not acknowledged: \(status.stdout)")
        let replica = try Replica.open(at: copy.store)
        let syncStatus = try awaitSync { try await replica.syncStatus(of: RecordID(uuidString: onCopy), in: "notes") }
        #expect(syncStatus.isPending, "\(syncStatus)")
        // Again: the same answer, not a misleading 409.
        let again = try copy.run("sync", setup.relay.url)
        #expect(again.status == 5 && again.stderr.contains("concord recover"), "\(again.stderr)")

        let recovered = try copy.ok("recover")
        #expect(recovered.contains("continues as device"), "\(recovered)")
        #expect(try copy.run("status").status == 0)
        for device in [copy, a, b, c, copy, a] {
            let out = try device.run("sync", setup.relay.url)
            #expect(out.status == 0, "\(device.store): \(out.stdout) \(out.stderr)")
        }
        let lists = try [a, b, c, copy].map { try $0.ok("list", "notes", "--json") }
        #expect(Set(lists).count == 1, "replicas diverged:\n\(lists.joined(separator: "\n"))")
        for text in ["before the copy", "written on the original", "written on the copy", "\"copy\""] {
            #expect(lists[0].contains(text), "lost \(text): \(lists[0])")
        }
        #expect(try a.ok("get", "notes", onCopy).contains("written on the copy"))
    }

    @Test(
        "a copy written without sealing syncs after the original: its write follows the original's, exit 0 with a warning that names `concord recover`; nothing lost"
    )
    func unsealedCopyFollowsAndIsWarned() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let (a, b) = (setup.a, setup.b)
        try a.ok("put", "notes", UUID().uuidString, "title=\"one\"")
        try a.ok("sync", setup.relay.url)
        let copy = try setup.copy(a, to: "a-copy")
        try a.ok("put", "notes", UUID().uuidString, "title=\"original\"")
        try copy.ok("put", "notes", UUID().uuidString, "title=\"copy\"")
        try a.ok("sync", setup.relay.url)
        let synced = try copy.run("sync", setup.relay.url)
        #expect(synced.status == 0, "\(synced.stdout) \(synced.stderr)")
        #expect(synced.stderr.contains("a copy of it is in use elsewhere") && synced.stderr.contains("concord recover"), "\(synced.stderr)")
        try a.ok("sync", setup.relay.url)
        try b.ok("sync", setup.relay.url)
        let lists = try [a, b, copy].map { try $0.ok("list", "notes", "--json") }
        #expect(Set(lists).count == 1, "\(lists)")
        #expect(lists[0].contains("original") && lists[0].contains("copy"))
    }

    @Test(
        "a device restored from a backup writes before it syncs: its own newer bundles come from the relay first, its new write follows them; no fork, no recover"
    )
    func restoredFromABackupContinuesByItself() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let (a, b) = (setup.a, setup.b)
        try a.ok("put", "notes", UUID().uuidString, "title=\"one\"")
        try a.ok("sync", setup.relay.url)
        let backup = try setup.copy(a, to: "backup")
        let lostLocally = UUID().uuidString
        try a.ok("put", "notes", lostLocally, "title=\"synced after the backup\"")
        try a.ok("sync", setup.relay.url)
        // The device dies; its store is restored from the backup, and written at once.
        try FileManager.default.removeItem(atPath: a.store)
        try FileManager.default.moveItem(atPath: backup.store, toPath: a.store)
        let afterRestore = UUID().uuidString
        try a.ok("put", "notes", afterRestore, "title=\"after the restore\"")
        try a.ok("put", "notes", lostLocally, "body=\"edited after the restore\"")
        let synced = try a.run("sync", setup.relay.url)
        #expect(synced.status == 0, "\(synced.stdout) \(synced.stderr)")
        #expect(try a.run("status").status == 0)
        try b.ok("sync", setup.relay.url)
        for device in [a, b] {
            let list = try device.ok("list", "notes", "--json")
            #expect(
                list.contains("synced after the backup") && list.contains("after the restore") && list.contains("edited after the restore"),
                "\(device.store): \(list)")
        }
        #expect(try a.ok("list", "notes", "--json") == b.ok("list", "notes", "--json"))
    }

    @Test("a restored device that sealed before syncing forks; recover keeps its write and the writes the relay already held")
    func restoredAndSealedForksThenRecovers() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let (a, b) = (setup.a, setup.b)
        try a.ok("put", "notes", UUID().uuidString, "title=\"one\"")
        try a.ok("sync", setup.relay.url)
        let backup = try setup.copy(a, to: "backup")
        try a.ok("put", "notes", UUID().uuidString, "title=\"synced after the backup\"")
        try a.ok("sync", setup.relay.url)
        try FileManager.default.removeItem(atPath: a.store)
        try FileManager.default.moveItem(atPath: backup.store, toPath: a.store)
        try a.ok("put", "notes", UUID().uuidString, "title=\"after the restore\"")
        _ = try a.ok("log")  // seals the write as bundle 2, which the relay holds already
        let forked = try a.run("sync", setup.relay.url)
        #expect(forked.status == 5 && forked.stderr.contains("concord recover"), "\(forked.stdout) \(forked.stderr)")
        try a.ok("recover")
        try a.ok("sync", setup.relay.url)
        try b.ok("sync", setup.relay.url)
        let list = try b.ok("list", "notes", "--json")
        #expect(list.contains("synced after the backup") && list.contains("after the restore"), "\(list)")
        #expect(try a.ok("list", "notes", "--json") == list)
    }

    @Test("a device that took the copy's branch from a shared folder follows the relay's branch at its next relay sync")
    func folderReceiverFollowsTheRelaysBranch() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let (a, b, c) = (setup.a, setup.b, setup.c)
        try a.ok("put", "notes", UUID().uuidString, "title=\"one\"")
        try a.ok("sync", setup.relay.url)
        try b.ok("sync", setup.relay.url)
        let copy = try setup.copy(a, to: "a-copy")
        let folder = setup.scratch.file("shared")
        try copy.ok("put", "notes", UUID().uuidString, "title=\"copy, through the folder\"")
        try copy.ok("sync-folder", folder)
        try b.ok("sync-folder", folder)  // B takes the copy's bundle 2 of A's chain
        try a.ok("put", "notes", UUID().uuidString, "title=\"original, through the relay\"")
        try a.ok("sync", setup.relay.url)
        #expect(try copy.run("sync", setup.relay.url).status == 5)
        try copy.ok("recover")
        try copy.ok("sync", setup.relay.url)
        // B's next relay round asks again for A's bundle at its head (it came from the
        // folder), meets the relay's other one and follows the relay.
        let pulled = try b.run("sync", setup.relay.url)
        #expect(pulled.status == 0, "\(pulled.stdout) \(pulled.stderr)")
        #expect(pulled.stderr.contains("follows the relay's version"), "\(pulled.stderr)")
        #expect(try b.ok("list", "notes").contains("original, through the relay"))
        // The original writes on; everyone converges.
        try a.ok("put", "notes", UUID().uuidString, "title=\"original, later\"")
        try a.ok("sync", setup.relay.url)
        try b.ok("sync", setup.relay.url)
        try c.ok("sync", setup.relay.url)
        try copy.ok("sync", setup.relay.url)
        let lists = try [a, b, c, copy].map { try $0.ok("list", "notes", "--json") }
        let statusOfB = try b.run("status").stdout
        #expect(
            Set(lists).count == 1,
            "replicas diverged:\n\(lists.joined(separator: "\n"))\nB: \(pulled.stdout) \(pulled.stderr)\n\(statusOfB)")
        for text in ["copy, through the folder", "original, through the relay", "original, later"] {
            #expect(lists[1].contains(text), "B lost \(text)")
        }
    }
}

/// Runs async work from a synchronous test body.
func awaitSync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// `@unchecked Sendable`: written once by the task before the semaphore is signalled, read after.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
