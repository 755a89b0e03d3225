@testable import ConcordCore

/// A replica id whose 32 bytes are all `byte`.
func rid(_ byte: UInt8) -> ReplicaID { ReplicaID(bytes: [UInt8](repeating: byte, count: 32))! }

func stamp(_ ms: UInt64, _ counter: UInt16 = 0, _ replica: UInt8 = 1) -> Stamp {
    Stamp(hlc: HLCTimestamp(milliseconds: ms, counter: counter), replica: rid(replica))
}

let recordA = RecordID(high: 1, low: 1)
let recordB = RecordID(high: 2, low: 2)

func op(_ action: RecordOperation.Action, _ s: Stamp, record: RecordID = recordA, collection: String = "c") -> RecordOperation {
    RecordOperation(stamp: s, collection: collection, record: record, action: action)
}

func state(_ ops: [RecordOperation]) -> ReplicaState {
    var s = ReplicaState()
    s.apply(contentsOf: ops)
    return s
}
