import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Snapshots on replicas (`Specs/snapshots.md` §4, issue 16 stage 4): sealing at a
/// checkpoint, loading into a newly joined replica, verification by recompute, refusals.
@Suite("Replica snapshots: seal, load, verify")
struct ReplicaSnapshotTests {
    func sync(_ from: Replica, to: Replica) async throws {
        try await to.import(try await from.bundles(since: try await to.versionVector()))
    }

    /// A laptop (admin) and a tablet (writer) with writes, deletes and set churn, acknowledged and
    /// checkpointed; then writes above the checkpoint. `afterJoin` runs once both hold each
    /// other's first bundles (to copy a store there). `ReplicaCompactionTests` uses it too.
    func classroom(
        _ dir: String, encrypted: Bool = true, afterJoin: (Replica, Replica) async throws -> Void = { _, _ in }
    ) async throws -> (Replica, Replica, ManualClock) {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let options = Replica.Options(physicalClock: time)
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", encrypted: encrypted, options: options)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet", options: options)
        try await sync(laptop, to: tablet)
        try await sync(tablet, to: laptop)
        try await afterJoin(laptop, tablet)
        for i in 0..<12 {
            let writer = i % 2 == 0 ? laptop : tablet
            try await writer.write { tx in
                try tx.set("title", to: .string("item \(i)"), record: RecordID(high: 1, low: UInt64(i)), in: i % 3 == 0 ? "notes" : "todos")
                try tx.add(.string("t\(i % 3)"), to: "tags", record: RecordID(high: 1, low: UInt64(i)), in: i % 3 == 0 ? "notes" : "todos")
            }
            try await writer.seal()
            try await sync(writer, to: i % 2 == 0 ? tablet : laptop)
            time.advance(by: 1_000)
        }
        try await laptop.write { tx in try tx.delete(record: RecordID(high: 1, low: 4), in: "todos") }
        try await laptop.write { tx in try tx.remove(.string("t1"), from: "tags", record: RecordID(high: 1, low: 1), in: "todos") }
        try await laptop.seal()
        try await sync(laptop, to: tablet)
        try await tablet.performStabilityDuties()
        try await sync(tablet, to: laptop)
        try await laptop.performStabilityDuties()
        try await sync(laptop, to: tablet)
        try await tablet.write { tx in try tx.set("title", to: "after the checkpoint", record: RecordID(high: 2, low: 1), in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        return (laptop, tablet, time)
    }

    @Test(
        "seal at the checkpoint, load into a joined replica, pull the rest: same visible state; the tablet verifies it",
        arguments: [true, false])
    func sealLoadPullVerify(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: encrypted)
        let snapshot = try #require(try await laptop.sealSnapshot())
        #expect(try await laptop.latestSnapshot()?.manifest == snapshot.manifest)
        #expect(try await laptop.snapshotStatus()?.state == .verified)
        let checkpoint = try #require(try await laptop.stability().latestCheckpoint)
        #expect(snapshot.manifest.vector == checkpoint.stable)
        #expect(snapshot.manifest.isEncrypted == encrypted)
        #expect(snapshot.manifest.recordCount >= 12 && snapshot.manifest.stubCount == 1, "\(snapshot.manifest.recordCount)")
        #expect(snapshot.manifest.vector[tablet.deviceID.publicKey] >= 6)

        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        let controls = try await laptop.controlBundles(through: snapshot.manifest)
        let summary = try await newcomer.loadSnapshot(snapshot, controlBundles: controls)
        #expect(summary.vector == snapshot.manifest.vector)
        #expect(try await newcomer.snapshotStatus()?.state == .provisional)
        var held = try await newcomer.versionVector()
        held[newcomer.deviceID.publicKey] = 0
        #expect(held == snapshot.manifest.vector)
        #expect(try await newcomer.record(RecordID(high: 1, low: 0), in: "notes")?.fields.first?.value == .string("item 0"))
        #expect(try await newcomer.record(RecordID(high: 1, low: 4), in: "todos") == nil)
        // The rest comes with an ordinary pull.
        try await sync(laptop, to: newcomer)
        try await sync(newcomer, to: laptop)
        #expect(try await newcomer.state().digestHex == (try await laptop.state().digestHex))
        // It writes, and the others take its bundles.
        try await newcomer.write { tx in try tx.set("title", to: "from the newcomer", record: RecordID(high: 3, low: 1), in: "todos") }
        try await newcomer.seal()
        try await sync(newcomer, to: laptop)
        try await sync(laptop, to: tablet)
        try await sync(tablet, to: laptop)
        #expect(try await tablet.state().digestHex == (try await laptop.state().digestHex))
        // The tablet holds the log: it verifies the snapshot by recompute.
        #expect(try await tablet.verifySnapshot(snapshot).state == .verified)
        // The newcomer was loaded from it: it cannot verify it itself.
        await #expect(throws: ConcordError.self) { try await newcomer.verifySnapshot() }
        // Opened again from disk, it keeps its floor, base and snapshot, and goes on syncing.
        let reopened = try Replica.open(at: dir + "/new", options: Replica.Options(physicalClock: time))
        #expect(try await reopened.snapshotStatus()?.id == snapshot.manifest.id)
        try await tablet.write { tx in try tx.set("title", to: "after reopening", record: RecordID(high: 4, low: 1), in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: reopened)
        try await sync(reopened, to: laptop)
        try await sync(tablet, to: laptop)
        #expect(try await reopened.state().digestHex == (try await laptop.state().digestHex))
    }

    @Test("a replica loaded from a snapshot does not seal at an older checkpoint below its base (regression: it threw snapshotRefused)")
    func loadedReplicaSealsOnlyAtOrAboveItsBase() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false)
        // A second checkpoint a day later, above the first: the snapshot is sealed there.
        try await tablet.write { tx in try tx.set("title", to: "second", record: RecordID(high: 2, low: 2), in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        try await sync(laptop, to: tablet)
        time.advance(by: 86_400_001)
        try await tablet.performStabilityDuties()
        try await sync(tablet, to: laptop)
        #expect(try await laptop.performStabilityDuties().checkpointed)
        #expect(try await laptop.memberContext().state.checkpoints.count >= 2)
        let snapshot = try #require(try await laptop.sealSnapshot())
        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        try await newcomer.loadSnapshot(snapshot, controlBundles: try await laptop.controlBundles(through: snapshot.manifest))
        // It holds the first checkpoint (below V) but not yet the second's bundle (above V).
        #expect(try await newcomer.sealSnapshot() == nil)
        try await sync(laptop, to: newcomer)
        let sealed = try #require(try await newcomer.sealSnapshot())
        #expect(sealed.manifest.stateDigest == snapshot.manifest.stateDigest)
    }

    @Test("an admin device seals a snapshot in its stability duties once a checkpoint stands for snapshotMinBundles bundles")
    func dutySealsASnapshot() async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        var options = Replica.Options(physicalClock: time)
        options.snapshotMinBundles = 3
        let dir = temporaryDirectory()
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", options: options)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet", options: options)
        try await sync(laptop, to: tablet)
        try await sync(tablet, to: laptop)
        for i in 0..<3 {
            try await tablet.write { tx in try tx.set("title", to: .string("t\(i)"), record: RecordID(high: 5, low: UInt64(i)), in: "todos")
            }
            try await tablet.seal()
        }
        try await sync(tablet, to: laptop)
        #expect(try await tablet.performStabilityDuties().snapshot == nil)  // a writer: no snapshot duty
        try await sync(tablet, to: laptop)
        let duties = try await laptop.performStabilityDuties()
        #expect(duties.checkpointed)
        let id = try #require(duties.snapshot, "\(duties)")
        #expect(try await laptop.snapshotStatus()?.id == id)
        // Nothing new: no second snapshot.
        #expect(try await laptop.performStabilityDuties().snapshot == nil)
    }

    @Test("an admin device seals after a checkpoint once its latest snapshot is snapshotMaxAge old, however few bundles it covers")
    func dutySealsAnOldSnapshotsSuccessor() async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        var options = Replica.Options(physicalClock: time)
        options.snapshotMinBundles = 1_000
        options.snapshotMaxAge = 24 * 60 * 60 * 1000
        options.checkpointEvery = 0
        options.ackInterval = 0
        let dir = temporaryDirectory()
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", options: options)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet", options: options)
        try await sync(laptop, to: tablet)
        try await sync(tablet, to: laptop)
        var n: UInt64 = 0
        /// The tablet writes one bundle, both sides do their duties; returns the laptop's.
        func round() async throws -> StabilityDuties {
            n += 1
            try await tablet.write { tx in try tx.set("title", to: .string("t\(n)"), record: RecordID(high: 6, low: n), in: "todos") }
            try await tablet.seal()
            try await sync(tablet, to: laptop)
            try await sync(laptop, to: tablet)
            try await tablet.performStabilityDuties()
            try await sync(tablet, to: laptop)
            return try await laptop.performStabilityDuties()
        }
        let first = try await round()
        #expect(first.checkpointed && first.snapshot == nil, "no snapshot yet and few bundles: \(first)")
        let sealed = try #require(try await laptop.sealSnapshot())
        time.advance(by: 60 * 60 * 1000)
        let young = try await round()
        #expect(young.checkpointed && young.snapshot == nil, "an hour old: not due: \(young)")
        time.advance(by: 24 * 60 * 60 * 1000)
        let old = try await round()
        #expect(old.checkpointed, "\(old)")
        let id = try #require(old.snapshot, "a day old and the checkpoint covers new bundles: due: \(old)")
        #expect(id != sealed.manifest.id)
        #expect(try await laptop.snapshotStatus()?.id == id)
        #expect(try await laptop.snapshotStatus()?.madeAt.milliseconds == time.nowMilliseconds())
    }

    @Test("a space with read scopes is not snapshotted: sealing refuses, the duty seals nothing")
    func scopedSpacesAreNotSnapshotted() async throws {
        let dir = temporaryDirectory()
        let (laptop, _, _) = try await classroom(dir, encrypted: true)
        #expect(try await laptop.sealSnapshot() != nil, "a checkpoint is held")
        try await laptop.setPolicy(
            try Policy(
                json:
                    #"{"concord_policy": 1, "roles": {"teacher": {"base": "writer"}}, "collections": {"notes": {"read": ["teacher"], "write": {"teacher": "all"}}}}"#,
                encrypted: true))
        let error = await #expect(throws: ConcordError.self) { try await laptop.sealSnapshot() }
        #expect(error?.code == .snapshotRefused && error?.message.contains("read scopes") == true, "\(String(describing: error))")
        #expect(try await laptop.performStabilityDuties().snapshot == nil)
    }

    @Test("no checkpoint: nothing to seal")
    func nothingToSeal() async throws {
        let laptop = try await Replica.create(at: temporaryDirectory() + "/laptop", name: "laptop")
        try await laptop.write { tx in try tx.set("title", to: "x", record: RecordID(high: 1, low: 1), in: "todos") }
        #expect(try await laptop.sealSnapshot() == nil)
    }

    @Test("bad input is refused with a typed error and leaves the store unchanged")
    func refusals() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false)
        let snapshot = try #require(try await laptop.sealSnapshot())
        let controls = try await laptop.controlBundles(through: snapshot.manifest)
        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        let before = try await newcomer.versionVector()

        func code(_ body: () async throws -> Void) async -> String? {
            do { try await body() } catch let error as ConcordError { return "\(error.code)" } catch { return "\(error)" }
            return nil
        }
        // A tampered chunk.
        var chunks = snapshot.chunks
        chunks[0][chunks[0].count - 1] ^= 1
        #expect(
            await code {
                try await newcomer.loadSnapshot(SealedSnapshot(manifest: snapshot.manifest, chunks: chunks), controlBundles: controls)
            } == "malformedSnapshot")
        // A writer's snapshot (the tablet seals one): refused under the default trust.
        let writers = try #require(try await tablet.sealSnapshot())
        #expect(await code { try await newcomer.loadSnapshot(writers, controlBundles: controls) } == "snapshotRefused")
        // A missing control bundle.
        #expect(await code { try await newcomer.loadSnapshot(snapshot, controlBundles: Array(controls.dropFirst())) } == "snapshotRefused")
        // A forged manifest: the right content signed by a non-member.
        let forger = Identity()
        let forged = SnapshotManifest(
            signing: .init(
                space: snapshot.manifest.space, madeAt: snapshot.manifest.madeAt, keyID: nil, checkpoint: snapshot.manifest.checkpoint,
                links: snapshot.manifest.links, membershipDigest: snapshot.manifest.membershipDigest,
                visibleDigest: snapshot.manifest.visibleDigest, stateDigest: snapshot.manifest.stateDigest,
                recordCount: snapshot.manifest.recordCount, liveRecordCount: snapshot.manifest.liveRecordCount,
                stubCount: snapshot.manifest.stubCount, plaintextBytes: snapshot.manifest.plaintextBytes, chunks: snapshot.manifest.chunks),
            with: forger)
        #expect(
            await code {
                try await newcomer.loadSnapshot(SealedSnapshot(manifest: forged, chunks: snapshot.chunks), controlBundles: controls)
            } == "snapshotRefused")
        // A wrong visible digest, signed by the admin itself: the content does not match.
        // (Built from the same records with the manifest's visible digest changed.)
        #expect(try await newcomer.versionVector() == before)
        #expect(try await newcomer.snapshotStatus() == nil)
        // Not empty: the tablet holds the log.
        #expect(await code { try await tablet.loadSnapshot(snapshot, controlBundles: controls) } == "snapshotRefused")
        // After all that, the right input loads.
        try await newcomer.loadSnapshot(snapshot, controlBundles: controls)
        try await sync(laptop, to: newcomer)
        #expect(try await newcomer.state().digestHex == (try await laptop.state().digestHex))
    }

    @Test("a removal's cut on a loaded replica recomputes records from the snapshot's base, not from an empty state")
    func cutAfterLoadKeepsTheBase() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false)
        let snapshot = try #require(try await laptop.sealSnapshot())
        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        try await newcomer.loadSnapshot(snapshot, controlBundles: try await laptop.controlBundles(through: snapshot.manifest))
        try await sync(laptop, to: newcomer)
        let record = RecordID(high: 1, low: 1)  // written by the tablet before the checkpoint
        #expect(try await newcomer.record(record, in: "todos")?.fields.first { $0.name == "title" }?.value == "item 1")
        // The tablet writes again; only the newcomer gets it; the laptop removes the tablet
        // at the head it holds, which cuts that bundle.
        time.advance(by: 1_000)
        try await tablet.write { tx in try tx.set("title", to: "late", record: record, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: newcomer)
        #expect(try await newcomer.record(record, in: "todos")?.fields.first { $0.name == "title" }?.value == "late")
        try await laptop.removeMember(tablet.deviceID)
        try await sync(laptop, to: newcomer)
        #expect(try await newcomer.record(record, in: "todos")?.fields.first { $0.name == "title" }?.value == "item 1")
        #expect(try await newcomer.state().digestHex == (try await laptop.state().digestHex))
    }

    @Test("an admin's forged snapshot loads as provisional, and a device holding the log refuses it: snapshot-mismatch naming the signer")
    func forgedSnapshotFailsTheRecompute() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false)
        let honest = try #require(try await laptop.sealSnapshot())
        // The admin's device signs other content at the same checkpoint: one record dropped.
        var records = try honest.records(key: nil)
        records.removeFirst()
        var writer = SnapshotWriter()
        var visible = ReplicaState()
        for record in records {
            writer.append(record)
            visible.insertRecord(record.state, id: record.id, in: record.collection)
        }
        let m = honest.manifest
        let forged = SealedSnapshot.seal(
            space: m.space, madeAt: m.madeAt, key: nil, checkpoint: m.checkpoint, links: m.links, membershipDigest: m.membershipDigest,
            visibleDigest: visible.digest, writer: &writer, signer: laptop.membership.device)
        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        try await newcomer.loadSnapshot(forged, controlBundles: try await laptop.controlBundles(through: forged.manifest))
        #expect(try await newcomer.snapshotStatus()?.state == .provisional)
        do {
            try await tablet.verifySnapshot(forged)
            Issue.record("a forged snapshot verified")
        } catch let error as ConcordError {
            #expect(error.code == .snapshotMismatch)
            #expect(error.message.contains("snapshot-mismatch") && error.message.contains(laptop.deviceID.publicKey.hex), "\(error)")
        }
        #expect(try await tablet.verifySnapshot(honest).state == .verified)
    }
}
