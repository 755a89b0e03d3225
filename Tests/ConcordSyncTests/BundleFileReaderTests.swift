import Concord
import ConcordSync
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bounded-memory reader of bundle files (`Specs/wire-format.md` §10.3): the same
/// answers as the in-memory reader, in two passes over one descriptor.
@Suite("Bundle file reader (streamed, bounded memory)")
struct BundleFileReaderTests {
    /// Reads `path` with `reader` settings and returns the bundles, or the error code.
    static func read(_ path: String, batchBytes: Int, readBufferBytes: Int) -> Result<(SpaceID, [[UInt8]]), ConcordSyncError> {
        do {
            let reader = try BundleFileReader(path: RawPath(path), limits: .default, batchBytes: batchBytes, readBufferBytes: readBufferBytes)
            var bundles: [[UInt8]] = []
            try reader.forEachBatch { batch, _ in bundles += batch }
            #expect(bundles.count == reader.count)
            #expect(bundles.reduce(0) { $0 + $1.count } == reader.bundleByteCount)
            return .success((reader.spaceID, bundles))
        } catch let error as ConcordSyncError {
            return .failure(error)
        } catch {
            Issue.record("unexpected \(error)")
            return .failure(ConcordSyncError(.fileSystem, "\(error)"))
        }
    }

    @Test("every vector case gives the in-memory reader's answer, whatever the buffer and batch sizes")
    func vectorsAgree() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lines = try String(contentsOfFile: BundleFileVectorTests.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 20)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let name = object["name"] as! String
            let bytes = BundleFileVectorTests.unhex(object["hex"] as! String)
            let expected = object["expected"] as! String
            let path = dir.file(name + ".concord")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            for (batch, buffer) in [(8 << 20, 1 << 20), (1, 64), (300, 100)] {
                switch Self.read(path, batchBytes: batch, readBufferBytes: buffer) {
                case .success(let (space, bundles)):
                    #expect(expected == "valid", "\(name) (\(batch), \(buffer)) read but expected \(expected)")
                    #expect(BundleFileVectorTests.hex(space.bytes) == object["space_id_hex"] as? String, "\(name)")
                    #expect(bundles.map { BundleFileVectorTests.hex($0) } == object["bundles_hex"] as? [String], "\(name)")
                case .failure(let error):
                    #expect("\(error.code)" == expected, "\(name) (\(batch), \(buffer)): \(error.message)")
                    #expect(error.message.hasPrefix(path), "\(name): \(error.message)")
                }
            }
        }
    }

    @Test("a file changed in place after it was checked is stopped before the changed batch is handed out")
    func fileChangedBetweenPasses() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, _) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 6, tag: "a")
        let path = dir.file("a.concord")
        try await a.exportBundleFile(to: path)
        // One bundle per batch.
        let reader = try BundleFileReader(path: RawPath(path), limits: .default, batchBytes: 1)
        #expect(reader.count == 6)
        // Flip a byte of the last bundle in place (same file, same size).
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let fd = open(path, O_RDWR)
        #expect(fd >= 0)
        var byte: UInt8 = 0
        #expect(pread(fd, &byte, 1, off_t(size - 40)) == 1)
        byte ^= 0xFF
        #expect(pwrite(fd, &byte, 1, off_t(size - 40)) == 1)
        close(fd)
        var handed = 0
        #expect {
            try reader.forEachBatch { bundles, _ in handed += bundles.count }
        } throws: { error in
            (error as? ConcordSyncError)?.code == .checksumMismatch && "\(error)".contains("changed")
        }
        #expect(handed == 5)
    }

    @Test("import in batches of one bundle converges like a whole-file import")
    func smallBatchesImport() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (a, b) = try await twoReplicas(in: dir)
        try await writeSome(a, records: 5, tag: "a")
        let path = dir.file("a.concord")
        try await a.exportBundleFile(to: path)
        let reader = try BundleFileReader(path: RawPath(path), limits: .default, batchBytes: 1, readBufferBytes: 64)
        var batches: [[[UInt8]]] = []
        try reader.forEachBatch { bundles, _ in batches.append(bundles) }
        #expect(batches.count == 5 && batches.allSatisfy { $0.count == 1 })
        var applied = 0
        for batch in batches { applied += try await b.import(batch).applied }
        #expect(applied == 5)
        #expect(try await a.state().digestHex == b.state().digestHex)
    }
}
