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
}
