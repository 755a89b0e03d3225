import Concord
import ConcordCrypto
import Foundation
import Testing

@testable import ConcordRelay

/// The snapshot part of the `RelayStorage` contract (`Specs/relay-api.md` §3.1, §7), run
/// against every backend: the latest snapshot per space and the previous one, their chunks,
/// the newer-than rule and the quota.
@Suite struct RelaySnapshotStorageTests {
    static let quota: Int64 = 1 << 30

    /// An opaque snapshot of `space` at `vector` with `chunks` (the storage never opens them).
    static func snapshot(_ space: SpaceID, vector: VersionVector, chunks: [[UInt8]], tag: UInt8) throws -> StoredSnapshot {
        let manifest = [UInt8]("CNCS".utf8) + [tag] + Array(repeating: tag, count: 60)
        return StoredSnapshot(
            spaceID: space, id: try Digest32(bytes: Array(repeating: tag, count: 32)), vector: vector, madeAt: UInt64(tag) << 40 | 7,
            manifest: manifest, chunkCount: chunks.count, bytes: Int64(manifest.count + chunks.reduce(0) { $0 + $1.count }))
    }

    @Test(arguments: StorageBackend.all) func latestReplacesAndThePreviousIsKeptUntilTheNext(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let alice = space.alice.device.publicKey
        let bob = space.bob.device.publicKey
        let a = try makeBundles(space.alice, count: 2)
        try await backend.with { storage in
            _ = try await storage.append(a, to: space.id, quotaBytes: Self.quota)
            let bundleBytes = try await storage.usage(of: space.id)
            #expect(try await storage.latestSnapshot(of: space.id) == nil)
            let first = try Self.snapshot(space.id, vector: VersionVector([alice: 1]), chunks: [[1, 2, 3], [4, 5]], tag: 1)
            #expect(try await storage.putSnapshot(first, chunks: [[1, 2, 3], [4, 5]], quotaBytes: Self.quota) == .stored)
            #expect(try await storage.latestSnapshot(of: space.id) == first)
            #expect(try await storage.snapshotChunk(first.id, index: 0, of: space.id) == [1, 2, 3])
            #expect(try await storage.snapshotChunk(first.id, index: 1, of: space.id) == [4, 5])
            #expect(try await storage.snapshotChunk(first.id, index: 2, of: space.id) == nil)
            #expect(try await storage.usage(of: space.id) == bundleBytes + first.bytes)
            // The same id again changes nothing.
            #expect(try await storage.putSnapshot(first, chunks: [[1, 2, 3], [4, 5]], quotaBytes: Self.quota) == .alreadyStored)
            #expect(try await storage.usage(of: space.id) == bundleBytes + first.bytes)

            let second = try Self.snapshot(space.id, vector: VersionVector([alice: 2, bob: 1]), chunks: [[9]], tag: 2)
            #expect(try await storage.putSnapshot(second, chunks: [[9]], quotaBytes: Self.quota) == .stored)
            #expect(try await storage.latestSnapshot(of: space.id) == second)
            // The previous one stays readable (a device mid-download finishes).
            #expect(try await storage.snapshot(first.id, of: space.id) == first)
            #expect(try await storage.snapshotChunk(first.id, index: 1, of: space.id) == [4, 5])
            #expect(try await storage.usage(of: space.id) == bundleBytes + first.bytes + second.bytes)

            let third = try Self.snapshot(space.id, vector: VersionVector([alice: 3, bob: 1]), chunks: [[7, 7], [8]], tag: 3)
            #expect(try await storage.putSnapshot(third, chunks: [[7, 7], [8]], quotaBytes: Self.quota) == .stored)
            // The first is dropped now, chunks and all; the second is the previous.
            #expect(try await storage.snapshot(first.id, of: space.id) == nil)
            #expect(try await storage.snapshotChunk(first.id, index: 0, of: space.id) == nil)
            #expect(try await storage.snapshot(second.id, of: space.id) == second)
            #expect(try await storage.latestSnapshot(of: space.id) == third)
            #expect(try await storage.usage(of: space.id) == bundleBytes + second.bytes + third.bytes)
            // Another space is untouched.
            #expect(try await storage.latestSnapshot(of: space.mallory.spaceID) == nil)
            #expect(try await storage.snapshot(third.id, of: space.mallory.spaceID) == nil)
        }
    }

    @Test(arguments: StorageBackend.all) func onlyANewerVectorReplaces(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let alice = space.alice.device.publicKey
        let bob = space.bob.device.publicKey
        try await backend.with { storage in
            _ = try await storage.append(try makeBundles(space.alice, count: 1), to: space.id, quotaBytes: Self.quota)
            let stored = try Self.snapshot(space.id, vector: VersionVector([alice: 3, bob: 2]), chunks: [[1]], tag: 1)
            _ = try await storage.putSnapshot(stored, chunks: [[1]], quotaBytes: Self.quota)
            let usage = try await storage.usage(of: space.id)
            for (tag, vector) in [
                (2, VersionVector([alice: 3, bob: 2])),  // equal, another id
                (3, VersionVector([alice: 2, bob: 2])),  // older
                (4, VersionVector([alice: 4, bob: 1])),  // concurrent
            ] as [(UInt8, VersionVector)] {
                let older = try Self.snapshot(space.id, vector: vector, chunks: [[2]], tag: tag)
                let error = await #expect(throws: RelayError.self) {
                    try await storage.putSnapshot(older, chunks: [[2]], quotaBytes: Self.quota)
                }
                #expect(error?.code == .staleSnapshot, "\(vector)")
                #expect(error?.message.contains(stored.id.hex.prefix(8)) == true)
            }
            #expect(try await storage.latestSnapshot(of: space.id) == stored)
            #expect(try await storage.usage(of: space.id) == usage)
        }
    }

    @Test(arguments: StorageBackend.all) func snapshotsCountAgainstTheQuota(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let alice = space.alice.device.publicKey
        let a = try makeBundles(space.alice, count: 3)
        try await backend.with { storage in
            _ = try await storage.append([a[0]], to: space.id, quotaBytes: Self.quota)
            let used = try await storage.usage(of: space.id)
            let big = try Self.snapshot(space.id, vector: VersionVector([alice: 1]), chunks: [Array(repeating: 5, count: 1000)], tag: 1)
            let error = await #expect(throws: RelayError.self) {
                try await storage.putSnapshot(big, chunks: [Array(repeating: 5, count: 1000)], quotaBytes: used + big.bytes - 1)
            }
            #expect(error?.code == .quotaExceeded)
            #expect(try await storage.latestSnapshot(of: space.id) == nil)
            #expect(try await storage.usage(of: space.id) == used)
            // Exactly reaching the quota is allowed; then a push has no room left.
            _ = try await storage.putSnapshot(big, chunks: [Array(repeating: 5, count: 1000)], quotaBytes: used + big.bytes)
            let push = await #expect(throws: RelayError.self) {
                try await storage.append([a[1]], to: space.id, quotaBytes: used + big.bytes)
            }
            #expect(push?.code == .quotaExceeded)
        }
    }

    @Test func vectorsRoundTripThroughTheirStoredForm() throws {
        let space = try TestSpace()
        let vector = VersionVector([space.alice.device.publicKey: 1 << 40, space.bob.device.publicKey: 1])
        let bytes = SnapshotReplaceRule.encode(vector)
        #expect(bytes.count == 80)
        #expect(try SnapshotReplaceRule.decodeVector(bytes) == vector)
        #expect(try SnapshotReplaceRule.decodeVector([]) == VersionVector())
        #expect(throws: RelayError.self) { try SnapshotReplaceRule.decodeVector(bytes.dropLast()) }
    }
}
