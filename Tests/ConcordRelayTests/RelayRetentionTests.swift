import ConcordCore
import ConcordCrypto
import ConcordRelayProtocol
import ConcordSync
import Foundation
import HTTPTypes
import Testing

@testable import Concord
@testable import ConcordProtocol
@testable import ConcordRelay

/// Relay retention (`Specs/snapshots.md` §5.2, `Specs/relay-api.md` §3.1, §4, §7) on both
/// backends: what a pass drops and keeps, the relay's stable cut, `409 snapshot-required`,
/// and devices syncing after the relay dropped bundles.
@Suite("relay: retention", .serialized)
struct RelayRetentionTests {
    static let day: UInt64 = 86_400_000
    static let quota: Int64 = 1 << 30

    // MARK: Storage

    @Test(arguments: StorageBackend.all)
    func aPassDropsDataBytesBelowTheBoundAndKeepsRowsAndChains(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let alice = space.alice.device.publicKey
        let bob = space.bob.device.publicKey
        let a = try makeBundles(space.alice, count: 4)
        let b = try makeBundles(space.bob, count: 2)
        try await backend.with { storage in
            _ = try await storage.append(a + b, to: space.id, quotaBytes: Self.quota)
            let usage = try await storage.usage(of: space.id)
            let vector = try await storage.vector(of: space.id)
            #expect(try await storage.floor(of: space.id) == VersionVector())

            // Age: only bundles whose `hlc max` is below the bound go (bob's first may share
            // alice's first millisecond, so bob is left out of this pass).
            let young = try await storage.dropBundleBytes(
                in: space.id, through: VersionVector([alice: 3]), hlcBelow: a[1].hlcRange.upperBound.rawValue)
            #expect(young.dropped == 1 && young.bytes == Int64(a[0].bytes.count), "\(young)")
            #expect(try await storage.floor(of: space.id) == VersionVector([alice: 1]))

            // Any age, through alice 3 and bob 1: a[1], a[2], b[0]; a[3] and b[1] stay.
            let old = try await storage.dropBundleBytes(in: space.id, through: VersionVector([alice: 3, bob: 1]), hlcBelow: .max)
            #expect(old.dropped == 3, "\(old)")
            #expect(old.bytes == Int64(a[1].bytes.count + a[2].bytes.count + b[0].bytes.count))
            #expect(try await storage.floor(of: space.id) == VersionVector([alice: 3, bob: 1]))
            #expect(try await storage.usage(of: space.id) == usage - young.bytes - old.bytes)
            // Heads and vectors are unchanged.
            #expect(try await storage.vector(of: space.id) == vector)
            // Again: nothing more to drop.
            #expect(
                try await storage.dropBundleBytes(in: space.id, through: VersionVector([alice: 3, bob: 1]), hlcBelow: .max).dropped == 0)

            // The rows stay, without bytes; what is above the floor is served whole.
            let rows = try await storage.bundles(in: space.id, since: VersionVector(), afterPosition: 0, limit: 100)
            #expect(rows.count == 6)
            #expect(rows.filter(\.bytes.isEmpty).map(\.id) == [a[0].id, a[1].id, a[2].id, b[0].id])
            let tail = try await storage.bundles(in: space.id, since: VersionVector([alice: 3, bob: 1]), afterPosition: 0, limit: 100)
            #expect(tail.map(\.bytes) == [a[3].bytes, b[1].bytes])

            // Duplicates below the floor are still duplicates, a different bundle a fork.
            let again = try await storage.append(a + b, to: space.id, quotaBytes: Self.quota)
            #expect(again.stored == 0 && again.duplicates == 6)
            let other = try makeBundles(space.alice, count: 1)
            let error = await #expect(throws: RelayError.self) {
                try await storage.append(other, to: space.id, quotaBytes: Self.quota)
            }
            #expect(error?.code == .fork && error?.expected?.sequence == 1)
            // Another space is untouched.
            #expect(try await storage.floor(of: space.mallory.spaceID) == VersionVector())
        }
    }

    @Test func retentionPeriodsParse() throws {
        #expect(try RetentionPeriod(parsing: "30d") == .days(30))
        #expect(try RetentionPeriod(parsing: "12h").milliseconds == 12 * 3_600_000)
        #expect(try RetentionPeriod(parsing: "0").milliseconds == 0)
        #expect(try RetentionPeriod(parsing: "forever") == .forever)
        #expect(RetentionPeriod.forever.milliseconds == nil)
        #expect(RelayConfiguration().retention.description == "30d")
        for bad in ["", "30", "d", "-1d", "1.5d", "30 days", "99999999999999999999d"] {
            #expect(throws: RelayError.self, "\(bad)") { try RetentionPeriod(parsing: bad) }
        }
    }

    @Test func snapshotRequiredCarriesTheSnapshotInBodyAndHeader() throws {
        let id = try Digest32(bytes: Array(repeating: 0xAB, count: 32))
        let author = Identity().publicKey
        let refusal = HTTPRefusal(RelayError.snapshotRequired(snapshot: id, author: author, holds: 2, floor: 7))
        #expect(refusal.status.code == 409 && refusal.code == "snapshot-required")
        #expect(refusal.headers[HTTPField.Name(RelayAPI.snapshotRequiredHeader)!] == id.hex)
        let body = try JSONDecoder().decode(RelayAPI.ErrorBody.self, from: refusal.body)
        #expect(body.error == "snapshot-required" && body.snapshot == id.hex)
        #expect(body.message.contains("load snapshot \(id.hex.prefix(8))"))
    }

    // MARK: The relay

    /// A teacher's laptop (admin), a tablet (writer) and a hall display (reader, synced once
    /// at the start, then away), on one manual clock six days back. Three days of writes,
    /// then a quiet day on which both writers acknowledge and the teacher checkpoints; the
    /// teacher seals a snapshot; everything is pushed.
    struct Room {
        let teacher: Replica
        let tablet: Replica
        let display: Replica
        /// With `silentWriter`: a writer that wrote one bundle on day 1, exchanged directly
        /// with the others, and never acknowledged.
        let silent: Replica?
        let snapshot: SealedSnapshot
        let directory: TemporaryDirectory
    }

    static func room(_ relay: RelayHarness, silentWriter: Bool = false) async throws -> Room {
        let directory = try TemporaryDirectory()
        let time = ManualClock(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000) - 6 * day)
        let options = Replica.Options(physicalClock: time)
        let teacher = try await Replica.create(
            at: directory.path("teacher"), name: "Ms Dlamini's laptop", encrypted: false, options: options)
        let tablet = try await Replica.join(
            try await teacher.invite(role: .writer), at: directory.path("tablet"), name: "Amina's tablet", options: options)
        let display = try await Replica.join(
            try await teacher.invite(role: .reader), at: directory.path("display"), name: "Hall display", options: options)
        func exchange(_ replicas: [Replica]) async throws {
            for _ in 0..<2 {
                for to in replicas {
                    for from in replicas where from !== to {
                        try await to.import(try await from.bundles(since: try await to.versionVector()))
                    }
                }
            }
        }
        try await exchange([teacher, tablet, display])
        var silent: Replica?
        if silentWriter {
            let library = try await Replica.join(
                try await teacher.invite(role: .writer), at: directory.path("library"), name: "Library PC", options: options)
            try await exchange([teacher, tablet, library])
            try await library.write { try $0.set("title", to: "from the library", record: RecordID(high: 77, low: 1), in: "notes") }
            try await library.seal()
            try await exchange([teacher, tablet, library])
            silent = library
        }
        for n in 1...3 as ClosedRange<UInt64> {
            for replica in [teacher, tablet] {
                try await replica.write { tx in
                    for i in 0..<5 {
                        try tx.set("title", to: .string("note \(n)-\(i)"), record: RecordID(high: n, low: UInt64(i)), in: "notes")
                    }
                }
                try await replica.seal()
            }
            try await exchange([teacher, tablet])
            _ = try await tablet.performStabilityDuties()
            try await exchange([teacher, tablet])
            _ = try await teacher.performStabilityDuties()
            try await exchange([teacher, tablet])
            time.advance(by: day + 1)
        }
        // The quiet day: no data bundle for a day, so both acknowledge what they hold.
        _ = try await tablet.performStabilityDuties()
        try await exchange([teacher, tablet])
        _ = try await teacher.performStabilityDuties()
        try await exchange([teacher, tablet])
        let snapshot = try #require(try await teacher.sealSnapshot())
        for replica in [teacher, tablet] {
            _ = try await RelaySnapshotEndpointTests.client(replica, relay).push()
        }
        return Room(teacher: teacher, tablet: tablet, display: display, silent: silent, snapshot: snapshot, directory: directory)
    }

    /// Every bundle a replica holds, by id.
    static func held(_ replica: Replica) async throws -> [BundleID: ChangeBundle] {
        var result: [BundleID: ChangeBundle] = [:]
        for try await bundle in try await replica.bundles() { result[bundle.id] = bundle }
        return result
    }

    @Test(arguments: StorageBackend.all)
    func anUploadDropsWhatTheSnapshotAndEveryAcknowledgementCover(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend,
            {
                $0.spaces = .open
                $0.retention = RetentionPeriod(milliseconds: 0)
            },
            { relay in
                let room = try await Self.room(relay)
                defer { room.directory.cleanUp() }
                let space = room.teacher.spaceID
                let url = URL(string: relay.baseURL)!
                let usageBefore = try await relay.storage.usage(of: space)
                let rowsBefore = try await relay.storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 10_000)
                #expect(rowsBefore.allSatisfy { !$0.bytes.isEmpty })

                let uploaded = try await SyncEngine(replica: room.teacher, relay: url).syncNow()
                #expect(uploaded.snapshotUploaded == room.snapshot.manifest.id, "\(uploaded)")

                // The relay's cut, as the relay computes it, and what every writer computes.
                let entry = try await MemberDirectory().refresh(space, storage: relay.storage)
                let relayVector = try await relay.storage.vector(of: space)
                let cut = RelayStability.stableCut(membership: try #require(entry.state), held: relayVector, dataAuthors: entry.dataAuthors)
                for replica in [room.teacher, room.tablet] {
                    let own = try await replica.stability().stableCut
                    #expect(own.includes(cut), "the relay's cut \(cut) is above a writer's \(own)")
                }
                let bound = RelayStability.minimum(room.snapshot.manifest.vector, cut)

                let held = try await Self.held(room.teacher)
                let rows = try await relay.storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 10_000)
                let dropped = rows.filter(\.bytes.isEmpty)
                #expect(dropped.count >= 5, "retention 0 drops the data the snapshot covers: \(dropped.count) of \(rows.count)")
                for row in rows {
                    let bundle = try #require(held[row.id], "the teacher holds every bundle the relay does")
                    if row.bytes.isEmpty {
                        #expect(!bundle.isControl, "a control bundle lost its bytes: \(bundle)")
                        #expect(row.sequence <= bound[row.author], "dropped above the snapshot or an acknowledgement: \(bundle)")
                    } else {
                        #expect(row.bytes == bundle.bytes)
                        // Nothing the pass may drop was kept.
                        #expect(bundle.isControl || row.sequence > bound[row.author], "kept \(bundle) at or below \(bound)")
                    }
                }
                #expect(rows.count >= rowsBefore.count)
                let floor = try await relay.storage.floor(of: space)
                #expect(!floor.entries.isEmpty && bound.includes(floor), "floor \(floor), bound \(bound)")
                // The space's usage is what it still holds: the kept bytes and the snapshot.
                let latest = try #require(try await relay.storage.latestSnapshot(of: space))
                #expect(try await relay.storage.usage(of: space) == rows.reduce(Int64(0)) { $0 + Int64($1.bytes.count) } + latest.bytes)
                #expect(try await relay.storage.usage(of: space) < usageBefore + latest.bytes)
                #expect(relayVector.includes(try await room.teacher.versionVector()))

                // Pushing the dropped bundles again: duplicates, nothing stored.
                let dropIDs = Set(dropped.map(\.id))
                let again = try await relay.storage.append(
                    held.values.filter { dropIDs.contains($0.id) }.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) },
                    to: space,
                    quotaBytes: Self.quota)
                #expect(again.stored == 0 && again.duplicates == dropIDs.count)

                // The hall display holds a log from before the floor: its pull is refused,
                // typed; its engine then loads the relay's snapshot into it (rebased: a
                // far-behind store) and pulls the tail.
                let refusal = await #expect(throws: ConcordSyncError.self) {
                    try await RelaySnapshotEndpointTests.client(room.display, relay).pull()
                }
                #expect(refusal?.code == .snapshotRequired && refusal?.httpStatus == 409 && refusal?.relayCode == "snapshot-required")
                #expect(refusal?.snapshotID == room.snapshot.manifest.id)
                let caughtUp = try await SyncEngine(replica: room.display, relay: url).syncNow()
                #expect(caughtUp.snapshotLoaded == room.snapshot.manifest.id, "\(caughtUp)")
                #expect(try await room.display.versionVector().includes(room.snapshot.manifest.vector))

                // A writer that holds everything pulls as usual.
                #expect(try await RelaySnapshotEndpointTests.client(room.tablet, relay).pull().rejected.isEmpty)

                // A new device joins after retention: it loads the snapshot, pulls the tail
                // above it, and ends with everyone's state.
                try await room.tablet.write {
                    try $0.set("title", to: "after retention", record: RecordID(high: 99, low: 1), in: "notes")
                }
                _ = try await SyncEngine(replica: room.tablet, relay: url).syncNow()
                let invite = try await room.teacher.invite(role: .writer)
                let teacherEngine = SyncEngine(replica: room.teacher, relay: url)
                _ = try await teacherEngine.syncNow()
                let newcomer = try await Replica.join(invite, at: room.directory.path("newcomer"), name: "Sipho's tablet")
                let engine = SyncEngine(replica: newcomer, relay: url)
                let first = try await engine.syncNow()
                #expect(first.snapshotLoaded == room.snapshot.manifest.id, "\(first)")
                #expect(try await newcomer.record(RecordID(high: 99, low: 1), in: "notes")?["title"] == "after retention")
                _ = try await SyncEngine(replica: room.tablet, relay: url).syncNow()
                _ = try await teacherEngine.syncNow()
                _ = try await engine.syncNow()
                _ = try await SyncEngine(replica: room.display, relay: url).syncNow()
                let digests = [
                    try await room.teacher.state().digestHex, try await room.tablet.state().digestHex, try await newcomer.state().digestHex,
                    try await room.display.state().digestHex,
                ]
                #expect(Set(digests).count == 1, "\(digests)")
            })
    }

    /// A device whose bundles of an author came from elsewhere asks the relay again for the
    /// bundle at its head (`Specs/sync-protocol.md` §5.4), one below it: when that head is the
    /// author's floor (a writer that never acknowledged: its own chain is all the relay may
    /// drop), the client asks from its heads instead of reporting itself behind.
    @Test(arguments: StorageBackend.all)
    func aHeadAtTheFloorIsNotBehind(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend,
            {
                $0.spaces = .open
                $0.retention = RetentionPeriod(milliseconds: 0)
            },
            { relay in
                let room = try await Self.room(relay, silentWriter: true)
                defer { room.directory.cleanUp() }
                let space = room.teacher.spaceID
                let library = try #require(room.silent).membership.device.publicKey
                let url = URL(string: relay.baseURL)!
                #expect(try await SyncEngine(replica: room.teacher, relay: url).syncNow().snapshotUploaded == room.snapshot.manifest.id)
                let head = try await relay.storage.vector(of: space)[library]
                let floor = try await relay.storage.floor(of: space)
                #expect(head >= 2 && floor[library] == head, "floor \(floor), the library's head \(head)")
                #expect(try await room.tablet.unconfirmedAuthors().contains(library))
                // The tablet holds the library's chain to its head: not behind.
                let pulled = try await RelaySnapshotEndpointTests.client(room.tablet, relay).pull()
                #expect(pulled.rejected.isEmpty)
                #expect(try await SyncEngine(replica: room.tablet, relay: url).syncNow().pulled.rejected.isEmpty)
            })
    }

    @Test(arguments: StorageBackend.all)
    func foreverKeepsEveryBundle(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend,
            {
                $0.spaces = .open
                $0.retention = .forever
            },
            { relay in
                let room = try await Self.room(relay)
                defer { room.directory.cleanUp() }
                let space = room.teacher.spaceID
                let summary = try await SyncEngine(replica: room.teacher, relay: URL(string: relay.baseURL)!).syncNow()
                #expect(summary.snapshotUploaded == room.snapshot.manifest.id)
                let rows = try await relay.storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 10_000)
                #expect(rows.allSatisfy { !$0.bytes.isEmpty })
                #expect(try await relay.storage.floor(of: space) == VersionVector())
                // The hall display catches up from the log.
                #expect(try await RelaySnapshotEndpointTests.client(room.display, relay).pull().applied > 0)
            })
    }
}
