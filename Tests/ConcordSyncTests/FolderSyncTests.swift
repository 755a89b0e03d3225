import Concord
import ConcordSync
import Foundation
import Testing

@Suite("Folder sync")
struct FolderSyncTests {
    @Test("two replicas syncing through one folder at the same time converge")
    func concurrentReplicas() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        let folder = FolderSync(directory: dir.file("shared"))
        for round in 0..<3 {
            try await writeSome(a, records: 2, tag: "a\(round)")
            try await writeSome(b, records: 2, tag: "b\(round)")
            async let ra = folder.run(a)
            async let rb = folder.run(b)
            let (reportA, reportB) = try await (ra, rb)
            #expect(reportA.rejected.isEmpty && reportB.rejected.isEmpty)
            #expect(reportA.total.rejected.isEmpty && reportB.total.rejected.isEmpty)
        }
        // One more quiet round each picks up what the concurrent round raced past.
        _ = try await folder.run(a)
        _ = try await folder.run(b)
        _ = try await folder.run(a)
        #expect(try await a.state().digestHex == b.state().digestHex)
        #expect(try await a.versionVector() == b.versionVector())
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("shared"))
        #expect(names.allSatisfy { $0.hasSuffix(".concord") && !$0.hasPrefix(".") }, "\(names)")
        let prefixA = FolderSync.prefix(of: a.replicaID)
        #expect(names.contains { $0.hasPrefix(prefixA + "-") })
    }

    @Test("nothing new: no file written; own files are not imported; temporary files are ignored")
    func idempotent() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        let folder = FolderSync(directory: dir.file("shared"))
        try await writeSome(a, tag: "a")
        let first = try await folder.run(a)
        #expect(first.written?.ownSequences == 1...3)
        #expect(first.imported.isEmpty)
        let second = try await folder.run(a)
        #expect(second.written == nil)
        // A half-written file under a temporary name is never read.
        try Data([0x43, 0x4e]).write(to: URL(fileURLWithPath: dir.file("shared/.x.concord.1234.tmp")))
        let report = try await folder.run(b)
        #expect(report.rejected.isEmpty)
        #expect(report.total.applied == 3)
        let again = try await folder.run(b)
        #expect(again.imported.isEmpty && again.upToDate.count == 1)
    }

    @Test("a damaged file in the folder is reported, the others still imported")
    func damagedFile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        let folder = FolderSync(directory: dir.file("shared"))
        try await writeSome(a, tag: "a")
        _ = try await folder.run(a)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.file("shared/junk.concord")))
        let report = try await folder.run(b)
        #expect(report.rejected.count == 1)
        #expect(report.total.applied == 3)
    }

    @Test("a file named like the replica's own that does not hold its bundles neither silences it nor is replaced")
    func spoofedOwnNames() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        let shared = dir.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        let prefix = FolderSync.prefix(of: a.replicaID)
        // An empty file claiming a's first million bundles, and junk under the very name
        // a's first file would get.
        #expect(FileManager.default.createFile(atPath: shared + "/\(prefix)-1-1000000.concord", contents: Data()))
        #expect(FileManager.default.createFile(atPath: shared + "/\(prefix)-1-3.concord", contents: Data([1, 2, 3])))
        try await writeSome(a, tag: "a")
        let folder = FolderSync(directory: shared)
        let first = try await folder.run(a)
        #expect(first.written?.ownSequences == 1...3)
        #expect(first.written?.path == shared + "/\(prefix)-1-3-2.concord")
        #expect(Set(first.rejected.map(\.file)) == ["\(prefix)-1-1000000.concord", "\(prefix)-1-3.concord"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: shared + "/\(prefix)-1-3.concord")) == Data([1, 2, 3]))
        // Its own file is recognised by its contents: nothing is written again.
        let second = try await folder.run(a)
        #expect(second.written == nil)
        #expect(!second.imported.contains { $0.file.hasSuffix("-2.concord") })
        let report = try await folder.run(b)
        #expect(report.total.applied == 3)
        #expect(try await a.state().digestHex == b.state().digestHex)
    }

    @Test("an own file damaged or removed in the folder is written again")
    func damagedOwnFileIsRewritten() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        let folder = FolderSync(directory: dir.file("shared"))
        try await writeSome(a, records: 2, tag: "a1")
        let first = try #require(try await folder.run(a).written)
        try await writeSome(a, records: 2, tag: "a2")
        let second = try #require(try await folder.run(a).written)
        #expect(first.ownSequences == 1...2 && second.ownSequences == 3...4)
        // The first file loses its last byte (a copy cut short): a writes 1...4 again.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: first.path))
        try bytes.dropLast().write(to: URL(fileURLWithPath: first.path))
        let repaired = try await folder.run(a)
        #expect(repaired.written?.ownSequences == 1...4)
        _ = try await folder.run(b)
        #expect(try await a.state().digestHex == b.state().digestHex)
        // Removed: the same.
        try await writeSome(a, records: 1, tag: "a3")
        let third = try #require(try await folder.run(a).written)
        try FileManager.default.removeItem(atPath: third.path)
        #expect(try await folder.run(a).written?.ownSequences == 5...5)
    }

    @Test("file names: own ranges, the -k suffix of a taken name; anything else is not parsed")
    func names() {
        #expect(FolderSync.parseName("0123456789abcdef-1-3.concord")?.range == 1...3)
        #expect(FolderSync.parseName("0123456789ABCDEF-2-2-2.concord")?.prefix == "0123456789abcdef")
        #expect(FolderSync.parseName("0123456789abcdef-1-3-1.concord") == nil)
        #expect(FolderSync.parseName("0123456789abcdef-3-1.concord") == nil)
        #expect(FolderSync.parseName("0123456789abcdef-0-1.concord") == nil)
        #expect(FolderSync.parseName("0123456789abcdef-+1-3.concord") == nil)
        #expect(FolderSync.parseName("0123456789abcdeg-1-3.concord") == nil)
        #expect(FolderSync.coveredPrefix([3...4, 1...2, 6...9]) == 4)
        #expect(FolderSync.coveredPrefix([2...4]) == 0)
        #expect(FolderSync.isCandidate(Array("caf".utf8) + [0xE9] + Array(".concord".utf8)))
        #expect(!FolderSync.isCandidate(".a.concord") && !FolderSync.isCandidate("a.concord.1.tmp"))
    }
}

@Suite("Folder sync: stability")
struct FolderSyncStabilityTests {
    @Test("in a space with members, folder sync carries acks and the admin's checkpoint: the stable cut moves on both devices")
    func acknowledgementsTravelThroughTheFolder() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let laptop = try await Replica.create(at: dir.file("laptop"), name: "laptop")
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir.file("tablet"), name: "tablet")
        let folder = FolderSync(directory: dir.file("shared"))
        for _ in 0..<3 {
            _ = try await folder.run(laptop)
            _ = try await folder.run(tablet)
        }
        _ = try await folder.run(laptop)
        let tabletID = tablet.deviceID.publicKey
        let laptopID = laptop.deviceID.publicKey
        let seen = try await laptop.stability()
        #expect(Set(seen.countedMembers) == [laptopID, tabletID], "\(seen)")
        #expect(seen.stableCut[laptopID] >= 2 && seen.stableCut[tabletID] >= 1, "\(seen.stableCut)")
        #expect(seen.latestCheckpoint?.by.author == laptopID)
        _ = try await folder.run(tablet)
        #expect(try await tablet.stability().latestCheckpoint == seen.latestCheckpoint)
    }
}
