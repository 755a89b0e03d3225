import Concord
import ConcordSync
import Foundation
import Testing

@Suite("Bundle files")
struct BundleFileTests {
    @Test("export then import: the other replica converges; re-import is a no-op")
    func roundTrip() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, tag: "a")
        let export = try await a.exportBundleFile(to: dir.file("a.concord"))
        #expect(export.bundles == 3)
        #expect(export.ownSequences == 1...3)
        let file = try BundleFile.read(at: dir.file("a.concord"))
        #expect(file.count == 3)
        #expect(file.spaceID == a.spaceID)
        #expect(export.bytes == file.bytes.count)

        let first = try await b.importBundleFile(at: dir.file("a.concord"))
        #expect(first.applied == 3 && first.rejected.isEmpty)
        #expect(try await a.state().digestHex == b.state().digestHex)

        let before = try await Snapshot(b)
        let again = try await b.importBundleFile(at: dir.file("a.concord"))
        #expect(again.applied == 0 && again.duplicates == 3 && again.rejected.isEmpty)
        #expect(try await Snapshot(b) == before)
        // No temporary file is left next to the export.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasSuffix(".tmp") })
    }

    @Test("an empty store exports a valid empty file")
    func emptyFile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await a.exportBundleFile(to: dir.file("empty.concord"))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("empty.concord"))))
        #expect(bytes.count == BundleFile.minimumByteCount)
        let summary = try await b.importBundleFile(at: dir.file("empty.concord"))
        #expect(summary == ImportSummary())
    }

    @Test("a file truncated at every byte offset is rejected and the store is unchanged")
    func truncatedEverywhere() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 2, tag: "a")
        try await a.exportBundleFile(to: dir.file("a.concord"))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("a.concord"))))
        try await writeSome(b, records: 1, tag: "b")
        let before = try await Snapshot(b)
        let cut = dir.file("cut.concord")
        for length in 0..<bytes.count {
            try Data(bytes[..<length]).write(to: URL(fileURLWithPath: cut))
            do {
                try await b.importBundleFile(at: cut)
                Issue.record("a file truncated to \(length) of \(bytes.count) bytes was accepted")
            } catch let error as ConcordSyncError {
                #expect(error.code == (length < BundleFile.minimumByteCount ? .truncatedFile : .checksumMismatch), "length \(length)")
                #expect(error.message.contains("nothing was imported"))
            }
            #expect(try await b.versionVector() == before.vector, "length \(length)")
        }
        #expect(try await Snapshot(b) == before)
    }

    @Test("a bit flipped anywhere is rejected and the store is unchanged")
    func bitFlips() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 2, tag: "a")
        try await a.exportBundleFile(to: dir.file("a.concord"))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("a.concord"))))
        let before = try await Snapshot(b)
        for offset in 0..<bytes.count {
            var flipped = bytes
            flipped[offset] ^= 1 << UInt8(offset % 8)
            #expect(throws: ConcordSyncError.self, "offset \(offset)") { try BundleFile(bytes: flipped) }
        }
        // Through the replica, on a sample of offsets.
        let path = dir.file("flipped.concord")
        for offset in stride(from: 0, to: bytes.count, by: 37) {
            var flipped = bytes
            flipped[offset] ^= 0x80
            try Data(flipped).write(to: URL(fileURLWithPath: path))
            await #expect(throws: ConcordSyncError.self) { try await b.importBundleFile(at: path) }
        }
        #expect(try await Snapshot(b) == before)
    }

    @Test("a file of another space is rejected whole")
    func wrongSpace() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, _) = try await twoReplicas(in: dir)
        let other = try Replica.createWithoutMembers(at: dir.file("other"))
        try await writeSome(other, tag: "o")
        try await other.exportBundleFile(to: dir.file("other.concord"))
        let before = try await Snapshot(a)
        do {
            try await a.importBundleFile(at: dir.file("other.concord"))
            Issue.record("accepted a file of another space")
        } catch let error as ConcordSyncError {
            #expect(error.code == .wrongSpace)
        }
        #expect(try await Snapshot(a) == before)
    }

    @Test("under a recomputed checksum, a forged bundle is still rejected by its signature")
    func forgedBundleUnderValidChecksum() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 1, tag: "a")
        try await a.exportBundleFile(to: dir.file("a.concord"))
        let file = try BundleFile.read(at: dir.file("a.concord"))
        var bundle = Array(file.bundleBytes(at: 0))
        bundle[bundle.count - 1] ^= 1  // the signature
        try Data(BundleFile.encode(spaceID: file.spaceID, bundles: [bundle])).write(to: URL(fileURLWithPath: dir.file("forged.concord")))
        let before = try await Snapshot(b)
        let summary = try await b.importBundleFile(at: dir.file("forged.concord"))
        #expect(summary.rejected.count == 1 && summary.applied == 0)
        #expect(summary.rejected.first?.error.code == .invalidSignature)
        #expect(try await Snapshot(b) == before)
    }

    @Test("streamed export equals the in-memory encoding")
    func writerMatchesEncode() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, _) = try await twoReplicas(in: dir)
        try await writeSome(a, tag: "a")
        try await a.exportBundleFile(to: dir.file("a.concord"))
        var bundles: [[UInt8]] = []
        for try await bundle in try await a.bundles() { bundles.append(bundle.bytes) }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("a.concord"))))
        #expect(bytes == BundleFile.encode(spaceID: a.spaceID, bundles: bundles))
    }
}
