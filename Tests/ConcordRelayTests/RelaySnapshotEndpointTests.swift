import ConcordCore
import ConcordCrypto
import ConcordRelayProtocol
import ConcordSync
import Foundation
import Logging
import Testing

@testable import Concord
@testable import ConcordProtocol
@testable import ConcordRelay

/// The snapshot endpoints (`Specs/relay-api.md` §3.1) on both backends: an admin uploads,
/// members fetch the manifest, chunks and control bundles; the relay refuses what it can
/// check without a key (signer, checkpoint, chunks, newer-than) and keeps the previous
/// snapshot until the next replaces it.
@Suite("relay: snapshots", .serialized)
struct RelaySnapshotEndpointTests {
    static let day: UInt64 = 86_400_000

    /// A teacher's laptop (admin) and a tablet (writer) on one manual clock that starts
    /// `days` days ago (the relay refuses bundles dated ahead of its own clock), with
    /// `checkpoints` checkpoints a day apart, each after writes of both; everything pushed
    /// to the relay.
    struct Classroom {
        let teacher: Replica
        let tablet: Replica
        let checkpoints: [MembershipState.AppliedCheckpoint]
        let directory: TemporaryDirectory
    }

    static func classroom(
        _ relay: RelayHarness, checkpoints count: Int, encrypted: Bool = false, compaction: Replica.Compaction = .off
    ) async throws -> Classroom {
        let directory = try TemporaryDirectory()
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let time = ManualClock(milliseconds: now - UInt64(count + 2) * day)
        var options = Replica.Options(physicalClock: time)
        options.compaction = compaction
        let teacher = try await Replica.create(
            at: directory.path("teacher"), name: "Ms Dlamini's laptop", encrypted: encrypted, options: options)
        let tablet = try await Replica.join(
            try await teacher.invite(role: .writer), at: directory.path("tablet"), name: "Amina's tablet", options: options)
        func exchange() async throws {
            try await tablet.import(try await teacher.bundles(since: try await tablet.versionVector()))
            try await teacher.import(try await tablet.bundles(since: try await teacher.versionVector()))
        }
        try await exchange()
        var checkpoints: [MembershipState.AppliedCheckpoint] = []
        var n: UInt64 = 0
        while checkpoints.count < count {
            n += 1
            for replica in [teacher, tablet] {
                try await replica.write { tx in
                    for i in 0..<5 {
                        try tx.set("title", to: .string("note \(n)-\(i)"), record: RecordID(high: n, low: UInt64(i)), in: "notes")
                    }
                }
                try await replica.seal()
            }
            try await exchange()
            _ = try await tablet.performStabilityDuties()
            try await exchange()
            _ = try await teacher.performStabilityDuties()
            try await exchange()
            if let latest = try await teacher.stability().latestCheckpoint, latest != checkpoints.last {
                checkpoints.append(latest)
            }
            time.advance(by: day + 1)
            #expect(n < 10, "no checkpoint after \(n) days")
            if n >= 10 { break }
        }
        for replica in [teacher, tablet] {
            _ = try await client(replica, relay).push()
        }
        return Classroom(teacher: teacher, tablet: tablet, checkpoints: checkpoints, directory: directory)
    }

    static func client(_ replica: Replica, _ relay: RelayHarness) -> RelayClient {
        RelayClient(replica: replica, relay: URL(string: relay.baseURL)!, logger: RelayManyAuthorsTests.quietLogger)
    }

    /// A snapshot at `checkpoint`'s stable cut, signed by `signer`, with the given chunk
    /// payloads. Its contents are made up: the relay never opens them.
    static func snapshot(
        space: SpaceID, checkpoint: MembershipState.AppliedCheckpoint, signer: Identity,
        payloads: [[UInt8]] = [[1, 2, 3], Array(repeating: 7, count: 500)],
        vector: VersionVector? = nil, checkpointID: BundleID? = nil, madeAt: UInt64 = 1
    ) throws -> SealedSnapshot {
        let stateDigest = Blake2b.hash(payloads.flatMap { $0 })
        let chunks = payloads.enumerated().map { index, payload in
            var w = ByteWriter()
            w.write(contentsOf: SnapshotChunk.magic)
            w.write(SnapshotChunk.formatVersion)
            w.write(contentsOf: stateDigest.bytes)
            w.writeVarint(UInt64(index))
            w.write(contentsOf: payload)
            return w.bytes
        }
        let links = (vector ?? checkpoint.stable).entries.map { author, seq in
            SnapshotManifest.Link(
                author: author, sequence: seq, bundle: BundleID(digest: Blake2b.hash(author.bytes + [UInt8(truncatingIfNeeded: seq)])),
                hlcMax: HLCTimestamp(rawValue: 1))
        }
        let draft = SnapshotManifest.Draft(
            space: try PublicKey(bytes: space.bytes), madeAt: HLCTimestamp(rawValue: madeAt), keyID: nil,
            checkpoint: checkpointID ?? checkpoint.by.bundleID, links: links, membershipDigest: Blake2b.hash([1]),
            visibleDigest: Array(repeating: 0, count: 32), stateDigest: stateDigest, recordCount: 1, liveRecordCount: 1, stubCount: 0,
            plaintextBytes: UInt64(payloads.reduce(0) { $0 + $1.count }),
            chunks: chunks.map { SnapshotManifest.ChunkReference(id: Blake2b.hash($0), length: $0.count) })
        return SealedSnapshot(manifest: SnapshotManifest(signing: draft, with: signer), chunks: chunks)
    }

    /// The relay's refusal code of `body`, or nil when it succeeds.
    static func refusal(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as ConcordSyncError {
            return error.relayCode
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: StorageBackend.all)
    func anAdminUploadsAndMembersFetch(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend, { $0.spaces = .open },
            { relay in
                let room = try await Self.classroom(relay, checkpoints: 1)
                defer { room.directory.cleanUp() }
                let checkpoint = try #require(room.checkpoints.first)
                let teacher = Self.client(room.teacher, relay)
                let tablet = Self.client(room.tablet, relay)
                #expect(try await tablet.latestSnapshot() == nil)
                let sealed = try Self.snapshot(space: room.teacher.spaceID, checkpoint: checkpoint, signer: room.teacher.membership.device)
                #expect(try await teacher.uploadSnapshot(manifest: sealed.manifest.bytes, chunks: sealed.chunks))
                // Again: held already, 200 not 201.
                #expect(try await !teacher.uploadSnapshot(manifest: sealed.manifest.bytes, chunks: sealed.chunks))
                let latest = try #require(try await tablet.latestSnapshot())
                #expect(latest.id == sealed.manifest.id && latest.manifest == sealed.manifest.bytes)
                for index in sealed.chunks.indices {
                    #expect(try await tablet.snapshotChunk(latest.id, index: index) == sealed.chunks[index])
                }
                #expect(await Self.refusal { _ = try await tablet.snapshotChunk(latest.id, index: sealed.chunks.count) } == "not-found")
                #expect(await Self.refusal { _ = try await tablet.snapshotChunk(Blake2b.hash([9]), index: 0) } == "gone")
                // Every control bundle the relay holds: those at or below V and the checkpoint above it.
                let controls = try await tablet.snapshotControlBundles(latest.id).map { try ChangeBundle(bytes: $0) }
                #expect(controls.allSatisfy { $0.isControl })
                #expect(controls.contains { $0.id == checkpoint.by.bundleID && $0.sequence > checkpoint.stable[$0.author] })
                var expected: [ChangeBundle] = []
                for try await bundle in try await room.teacher.bundles(since: VersionVector())
                where bundle.isControl {
                    expected.append(bundle)
                }
                #expect(Set(controls.map(\.id)) == Set(expected.map(\.id)))
                // The quota counts it.
                #expect(
                    try await relay.storage.latestSnapshot(of: room.teacher.spaceID)?.bytes
                        == Int64(sealed.manifest.bytes.count + sealed.chunks.reduce(0) { $0 + $1.count }))
            })
    }

    @Test(arguments: StorageBackend.all)
    func theRelayRefusesWhatItCanCheck(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend, { $0.spaces = .open },
            { relay in
                let room = try await Self.classroom(relay, checkpoints: 1)
                defer { room.directory.cleanUp() }
                let checkpoint = try #require(room.checkpoints.first)
                let space = room.teacher.spaceID
                let admin = room.teacher.membership.device
                let teacher = Self.client(room.teacher, relay)
                func upload(_ sealed: SealedSnapshot, by client: RelayClient? = nil, chunks: [[UInt8]]? = nil) async -> String? {
                    await Self.refusal {
                        _ = try await (client ?? teacher).uploadSnapshot(manifest: sealed.manifest.bytes, chunks: chunks ?? sealed.chunks)
                    }
                }
                let good = try Self.snapshot(space: space, checkpoint: checkpoint, signer: admin)
                // A writer may not upload; an admin may not upload a writer's snapshot.
                #expect(await upload(good, by: Self.client(room.tablet, relay)) == "not-an-admin")
                #expect(
                    await upload(try Self.snapshot(space: space, checkpoint: checkpoint, signer: room.tablet.membership.device))
                        == "invalid-snapshot")
                // A checkpoint the relay does not hold; a vector other than the checkpoint's S_C.
                #expect(
                    await upload(
                        try Self.snapshot(
                            space: space, checkpoint: checkpoint, signer: admin, checkpointID: BundleID(digest: Blake2b.hash([1]))))
                        == "invalid-snapshot")
                var other = checkpoint.stable
                other[admin.publicKey] += 1
                #expect(
                    await upload(try Self.snapshot(space: space, checkpoint: checkpoint, signer: admin, vector: other))
                        == "invalid-snapshot")
                // Chunks: one missing, one tampered, one extra.
                #expect(await upload(good, chunks: Array(good.chunks.dropLast())) == "invalid-snapshot")
                var tampered = good.chunks
                tampered[1][tampered[1].count - 1] ^= 1
                #expect(await upload(good, chunks: tampered) == "invalid-snapshot")
                #expect(await upload(good, chunks: good.chunks + [good.chunks[0]]) == "invalid-snapshot")
                // A manifest that does not decode, or whose signature does not verify.
                var forged = good.manifest.bytes
                forged[40] ^= 1
                #expect(
                    await Self.refusal { _ = try await teacher.uploadSnapshot(manifest: forged, chunks: good.chunks) } == "invalid-snapshot"
                )
                #expect(await Self.refusal { _ = try await teacher.uploadSnapshot(manifest: [1, 2, 3], chunks: []) } == "invalid-snapshot")
                #expect(try await relay.storage.latestSnapshot(of: space) == nil)
                // The good one is stored.
                #expect(try await teacher.uploadSnapshot(manifest: good.manifest.bytes, chunks: good.chunks))
            })
    }

    @Test(arguments: StorageBackend.all)
    func aNewerSnapshotReplacesAndThePreviousStaysUntilTheNext(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend, { $0.spaces = .open },
            { relay in
                let room = try await Self.classroom(relay, checkpoints: 3)
                defer { room.directory.cleanUp() }
                try #require(room.checkpoints.count == 3)
                let admin = room.teacher.membership.device
                let space = room.teacher.spaceID
                let teacher = Self.client(room.teacher, relay)
                let tablet = Self.client(room.tablet, relay)
                let snapshots = try room.checkpoints.enumerated().map { index, checkpoint in
                    try Self.snapshot(
                        space: space, checkpoint: checkpoint, signer: admin, payloads: [[UInt8(index)]], madeAt: UInt64(index + 1))
                }
                #expect(try await teacher.uploadSnapshot(manifest: snapshots[1].manifest.bytes, chunks: snapshots[1].chunks))
                // Older than the stored one: 409 stale-snapshot, nothing changes.
                #expect(
                    await Self.refusal {
                        _ = try await teacher.uploadSnapshot(manifest: snapshots[0].manifest.bytes, chunks: snapshots[0].chunks)
                    } == "stale-snapshot")
                #expect(try await tablet.latestSnapshot()?.id == snapshots[1].manifest.id)
                #expect(try await teacher.uploadSnapshot(manifest: snapshots[2].manifest.bytes, chunks: snapshots[2].chunks))
                #expect(try await tablet.latestSnapshot()?.id == snapshots[2].manifest.id)
                // The replaced one stays readable (a device mid-download finishes).
                #expect(try await tablet.snapshotChunk(snapshots[1].manifest.id, index: 0) == snapshots[1].chunks[0])
                #expect(try await !tablet.snapshotControlBundles(snapshots[1].manifest.id).isEmpty)
            })
    }

    @Test func routesAnswer405And404() async throws {
        try await RelayHarness.with(
            .sqlite, { $0.spaces = .open },
            { relay in
                let space = try SpaceID(bytes: Array(repeating: 1, count: 32))
                let id = Blake2b.hash([1])
                let post = try await relay.request(.POST, RelayAPI.path(space, "snapshot"))
                #expect(post.status == 405)
                #expect(post.headers.first(name: "Allow")?.contains("PUT") == true, "\(post.headers)")
                #expect(try await relay.request(.PUT, RelayAPI.snapshotChunkPath(space, id, index: 0)).status == 405)
                #expect(try await relay.request(.POST, RelayAPI.snapshotControlPath(space, id)).status == 405)
                #expect(try await relay.request(.GET, RelayAPI.path(space, "snapshot/\(id.hex)/other")).status == 404)
                #expect(try await relay.request(.GET, RelayAPI.snapshotChunkPath(space, id, index: 0)).status == 401)
                #expect(try await relay.request(.GET, RelayAPI.path(space, "snapshot")).status == 401)
            })
    }
}
