import Concord
import ConcordCore
import ConcordCrypto
import Foundation
import Testing

/// `Specs/vectors/snapshots.jsonl` (`Specs/snapshots.md` §4.2, §4.4): every valid snapshot
/// decodes to its id, V, counts, state digest and records; every invalid one fails with its
/// code at the first check it breaks.
@Suite struct SnapshotVectorTests {
    @Test func everySnapshotVectorConforms() throws {
        let cases = try VectorConformanceTests.load("snapshots.jsonl")
        #expect(cases.count >= 30)
        #expect(
            Set(cases.map(\.expected)) == [
                "valid", "malformedSnapshot", "invalidSignature", "unsupportedVersion", "snapshotMismatch", "invalidKey",
            ])
        for v in cases {
            let manifest = try v.bytes("manifest_hex")
            guard let chunkTexts = v.json["chunks_hex"] as? [String] else { throw Mismatch(message: "\(v.name): chunks_hex") }
            let chunks = chunkTexts.map { text in
                let digits = Array(text.utf8).map { $0 <= 57 ? $0 - 48 : $0 - 87 }
                return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
            }
            let key = v.json["epoch_key_hex"] == nil ? nil : EpochKey(key: try SymmetricKey(bytes: try v.bytes("epoch_key_hex")))
            do {
                let snapshot = try SealedSnapshot.decode(manifest: manifest, chunks: chunks)
                let records = try snapshot.records(key: key)
                #expect(v.expected == "valid", "\(v.name): decoded, expected \(v.expected)")
                guard v.expected == "valid" else { continue }
                let m = snapshot.manifest
                #expect(m.id.hex == (try v.string("snapshot_id_hex")), "\(v.name)")
                #expect(m.stateDigest.hex == (try v.string("state_digest_hex")), "\(v.name)")
                #expect(hex(m.visibleDigest) == (try v.string("visible_digest_hex")), "\(v.name)")
                let vector = try v.array("vector")
                #expect(vector.map { $0["author_hex"] as? String } == m.links.map(\.author.hex), "\(v.name)")
                #expect(vector.map { ($0["seq"] as? NSNumber)?.uint64Value } == m.links.map(\.sequence), "\(v.name)")
                let states = try v.array("record_states")
                #expect(states.count == records.count, "\(v.name)")
                for (expected, record) in zip(states, records) {
                    #expect(expected["collection"] as? String == record.collection, "\(v.name)")
                    #expect(expected["id_hex"] as? String == hex(record.id.bytes), "\(v.name)")
                    #expect(expected["state_hex"] as? String == hex(record.state.storageEncoding()), "\(v.name)")
                }
                // The visible digest is the canonical digest of the records applied to a state.
                var state = ReplicaState()
                for record in records { state.insertRecord(record.state, id: record.id, in: record.collection) }
                #expect(state.digest == m.visibleDigest, "\(v.name)")
            } catch let error as ConcordError {
                #expect(error.code.description == v.expected, "\(v.name): \(error)")
            }
        }
    }
}
