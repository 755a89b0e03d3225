import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// The snapshot codec (`Specs/snapshots.md` §4.2): round trips, limits and every refusal.
@Suite struct SnapshotCodecTests {
    static let signer = identity(7)
    static let spaceKey = identity(9).publicKey

    /// A state of `count` records in two collections, one of them deleted (a stub).
    static func state(records count: Int) -> ReplicaState {
        var state = ReplicaState()
        let me = ReplicaID(bytes: signer.publicKey.bytes)!
        for i in 0..<count {
            let id = RecordID(high: UInt64(i % 7), low: UInt64(i))
            let stamp = Stamp(hlc: HLCTimestamp(milliseconds: t0 + UInt64(i), counter: 0), replica: me)
            let collection = i % 2 == 0 ? "notes" : "tasks"
            state.apply(
                RecordOperation(stamp: stamp, collection: collection, record: id, action: .set(field: "title", value: .string("r\(i)"))))
            if i % 5 == 3 {
                let later = Stamp(hlc: HLCTimestamp(milliseconds: t0 + 10_000 + UInt64(i), counter: 0), replica: me)
                state.apply(RecordOperation(stamp: later, collection: collection, record: id, action: .delete))
            }
        }
        return state
    }

    static func seal(
        _ state: ReplicaState, chunkLimit: Int = SnapshotManifest.maxChunkPlaintextBytes, key: EpochKey? = nil, signer: Identity = signer
    )
        -> SealedSnapshot
    {
        var writer = SnapshotWriter(chunkLimit: chunkLimit)
        for record in state.recordsInKeyOrder {
            writer.append(SnapshotRecord(collection: record.collection, id: record.id, state: record.state))
        }
        let link = SnapshotManifest.Link(
            author: signer.publicKey, sequence: 4, bundle: BundleID(digest: Blake2b.hash([1])), hlcMax: HLCTimestamp(rawValue: 99))
        return SealedSnapshot.seal(
            space: spaceKey, madeAt: HLCTimestamp(milliseconds: t0, counter: 1), key: key, checkpoint: BundleID(digest: Blake2b.hash([2])),
            links: [link], membershipDigest: SnapshotManifest.membershipDigest(of: [BundleID(digest: Blake2b.hash([2]))]),
            visibleDigest: state.digest, writer: &writer, signer: signer)
    }

    @Test func roundTripsAndChecksEverything() throws {
        let state = Self.state(records: 200)
        let snapshot = Self.seal(state, chunkLimit: 1_000)
        #expect(snapshot.chunks.count > 3)
        let decoded = try SealedSnapshot.decode(manifest: snapshot.manifest.bytes, chunks: snapshot.chunks)
        #expect(decoded.manifest == snapshot.manifest)
        #expect(decoded.manifest.id == snapshot.manifest.id)
        #expect(decoded.manifest.vector[Self.signer.publicKey] == 4)
        #expect(decoded.manifest.recordCount == 200)
        #expect(decoded.manifest.stubCount == UInt64((0..<200).count { $0 % 5 == 3 }))
        let records = try decoded.records(key: nil)
        var rebuilt = ReplicaState()
        for record in records { rebuilt.insertRecord(record.state, id: record.id, in: record.collection) }
        #expect(rebuilt == state)
        #expect(rebuilt.digest == decoded.manifest.visibleDigest)
    }

    @Test func stateDigestIsIndependentOfChunking() {
        let state = Self.state(records: 120)
        let small = Self.seal(state, chunkLimit: 300)
        let large = Self.seal(state)
        #expect(small.chunks.count > large.chunks.count)
        #expect(small.manifest.stateDigest == large.manifest.stateDigest)
        #expect(small.manifest.id != large.manifest.id)
    }

    @Test func emptyStateHasOneEmptyChunk() throws {
        let snapshot = Self.seal(ReplicaState())
        #expect(snapshot.chunks.count == 1)
        #expect(try snapshot.records(key: nil).isEmpty)
    }

    @Test func refusesAlteredManifestAndChunks() throws {
        let snapshot = Self.seal(Self.state(records: 50), chunkLimit: 500)
        var manifest = snapshot.manifest.bytes
        manifest[70] ^= 1
        #expect(throws: ConcordError.self) { try SnapshotManifest.decode(manifest) }
        do {
            _ = try SnapshotManifest.decode(manifest)
        } catch {
            #expect(error.code == .invalidSignature)
        }
        var chunk = snapshot.chunks[1]
        chunk[chunk.count - 1] ^= 1
        do {
            _ = try SnapshotChunk.decode(chunk, index: 1, of: snapshot.manifest)
            Issue.record("an altered chunk decoded")
        } catch {
            #expect(error.code == .malformedSnapshot)
        }
        do {
            _ = try SnapshotChunk.decode(snapshot.chunks[0], index: 1, of: snapshot.manifest)
            Issue.record("a chunk at the wrong index decoded")
        } catch {
            #expect(error.code == .malformedSnapshot)
        }
        var truncated = snapshot.manifest.bytes
        truncated.removeLast()
        #expect(throws: ConcordError.self) { try SnapshotManifest.decode(truncated) }
        var version = snapshot.manifest.bytes
        version[4] = 2
        do {
            _ = try SnapshotManifest.decode(version)
        } catch {
            #expect(error.code == .unsupportedVersion)
        }
        #expect(throws: ConcordError.self) {
            try SealedSnapshot.decode(manifest: snapshot.manifest.bytes, chunks: Array(snapshot.chunks.dropLast()))
        }
    }

    @Test func encryptedRoundTripNeedsTheKey() throws {
        let key = EpochKey()
        let state = Self.state(records: 40)
        let snapshot = Self.seal(state, chunkLimit: 400, key: key)
        #expect(snapshot.manifest.keyID == key.id)
        let decoded = try SealedSnapshot.decode(manifest: snapshot.manifest.bytes, chunks: snapshot.chunks)
        #expect(try decoded.records(key: key).count == 40)
        #expect(throws: ConcordError.self) { try decoded.records(key: nil) }
        #expect(throws: ConcordError.self) { try decoded.records(key: EpochKey()) }
    }
}
