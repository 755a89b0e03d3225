import ConcordCore
import ConcordTesting
import Testing

@testable import Concord

/// The re-stamping rules of a recovery (`Specs/hlc.md` §9.3), pure.
@Suite("re-issue under a new identity")
struct ReissueTests {
    static let x = ReplicaID(bytes: [UInt8](repeating: 0x10, count: 32))!
    static let successor = ReplicaID(bytes: [UInt8](repeating: 0x01, count: 32))!
    static let y = ReplicaID(bytes: [UInt8](repeating: 0x20, count: 32))!

    static func op(_ action: RecordOperation.Action, _ ms: UInt64, counter: UInt16 = 0, by replica: ReplicaID = x, record: RecordID = todo)
        -> RecordOperation
    {
        RecordOperation(
            stamp: Stamp(hlc: HLCTimestamp(milliseconds: t0 + ms, counter: counter), replica: replica), collection: "todos", record: record,
            action: action)
    }

    @Test func writesKeepTheirPlaceInTimeJustAfterTheirOldReading() throws {
        let add = Self.op(.add(field: "tags", value: "a"), 10)
        let old = [
            Self.op(.set(field: "title", value: "x"), 5), add, Self.op(.remove(field: "tags", value: "a", observed: [add.stamp]), 20),
        ]
        let plan = try Reissue.plan(
            old, as: Self.successor, floor: HLCTimestamp(milliseconds: t0 + 30, counter: 0), horizon: t0 + 1_000,
            clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: t0 + 40)))
        #expect(plan.moved == 0)
        #expect(plan.operations.prefix(3).map(\.stamp.hlc) == old.map { HLCTimestamp(rawValue: $0.stamp.hlc.rawValue + 1) })
        #expect(plan.operations.allSatisfy { $0.stamp.replica == Self.successor })
        // The remove names the add's new tag; one more remove names its old one, after everything.
        #expect(plan.operations[2].action == .remove(field: "tags", value: "a", observed: [plan.operations[1].stamp]))
        #expect(plan.operations.count == 4 && plan.shadows == 1)
        #expect(plan.operations[3].action == .remove(field: "tags", value: "a", observed: [add.stamp]))
        #expect(plan.operations[3].stamp > plan.operations[2].stamp)
        #expect(plan.last == plan.operations[3].stamp.hlc)
    }

    @Test func writesDatedBeyondTheHorizonGetThePresentTime() throws {
        let year: UInt64 = 365 * 86_400_000
        let old = [
            Self.op(.set(field: "title", value: "ok"), 5), Self.op(.set(field: "title", value: "ahead"), year),
            Self.op(.add(field: "tags", value: "b"), year + 1),
        ]
        let now = t0 + 60_000
        let plan = try Reissue.plan(
            old, as: Self.successor, floor: HLCTimestamp(milliseconds: t0 + 30, counter: 0), horizon: now + 300_000,
            clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: now)))
        #expect(plan.moved == 2)
        #expect(plan.operations[0].stamp.hlc.milliseconds == t0 + 5)
        #expect(plan.operations[1].stamp.hlc.milliseconds == now && plan.operations[2].stamp > plan.operations[1].stamp)
        // The old tag of the add is beyond every acceptable reading: no remove can name it.
        #expect(plan.shadows == 0 && plan.operations.count == 3)
        #expect(plan.operations.map(\.stamp).allSatisfy { $0.hlc.milliseconds <= now + 300_000 })
    }

    /// A replica that holds a device's old, unacknowledged writes and their re-issued
    /// copies ends in the same visible state as one that holds only the copies, whatever
    /// others write afterwards, having seen either (`Specs/hlc.md` §9.3).
    @Test func reissuedWritesShadowTheirOldCopies() throws {
        try PropertyRunner.check("re-issued writes shadow their old copies", cases: 400) { rng in
            let domain = Generators.Domain.small(recordCount: 3, using: &rng)
            var time = t0
            func stamped(
                _ replica: ReplicaID, _ a: (collection: String, record: RecordID, action: RecordOperation.Action), after floor: inout UInt64
            ) -> RecordOperation {
                floor += UInt64.random(in: 0...2, using: &rng)
                return RecordOperation(
                    stamp: Stamp(hlc: HLCTimestamp(milliseconds: floor, counter: UInt16.random(in: 0...3, using: &rng)), replica: replica),
                    collection: a.collection, record: a.record, action: a.action)
            }
            // Shared history, then the device's unacknowledged writes (seen by some only).
            var common = ReplicaState()
            for _ in 0..<Int.random(in: 0...8, using: &rng) {
                let who = rng.chance(0.5) ? Self.x : Self.y
                time += 1
                common.apply(stamped(who, Generators.action(in: domain, state: common, using: &rng), after: &time))
            }
            var device = common
            var old: [RecordOperation] = []
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                time += 1
                let op = stamped(Self.x, Generators.action(in: domain, state: device, using: &rng), after: &time)
                device.apply(op)
                old.append(op)
            }
            let floor = common.newestStamp?.hlc ?? .zero
            let plan = try Reissue.plan(
                old, as: Self.successor, floor: floor, horizon: .max,
                clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: time)))
            var withOld = common
            withOld.apply(contentsOf: old)
            withOld.apply(contentsOf: plan.operations)
            var withoutOld = common
            withoutOld.apply(contentsOf: plan.operations)
            // Others write on, having seen either version.
            time = max(time, plan.last.milliseconds)
            for _ in 0..<Int.random(in: 0...8, using: &rng) {
                time += 1
                let view = rng.chance(0.5) ? withOld : withoutOld
                let op = stamped(Self.y, Generators.action(in: domain, state: view, using: &rng), after: &time)
                withOld.apply(op)
                withoutOld.apply(op)
            }
            if withOld.digestHex != withoutOld.digestHex {
                throw Diverged(differences: StateDiff.differences(withOld, withoutOld))
            }
        }
    }
}

struct Diverged: Error, CustomStringConvertible {
    var differences: [String]
    var description: String { "states differ: " + differences.joined(separator: "; ") }
}
