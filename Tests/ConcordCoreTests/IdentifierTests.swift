import Testing
@testable import ConcordCore

@Suite struct IdentifierTests {
    @Test func recordIDParsesAndPrintsUUIDs() throws {
        let text = "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"
        let id = try RecordID(uuidString: text)
        #expect(id.uuidString == text)
        #expect(try RecordID(uuidString: text.lowercased()) == id)
        #expect(RecordID(bytes: id.bytes) == id)
        #expect(throws: ConcordCoreError.self) { try RecordID(uuidString: "not-a-uuid") }
        #expect(throws: ConcordCoreError.self) { try RecordID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5") }
    }

    @Test func randomRecordIDsAreVersion4() {
        let id = RecordID.random()
        let bytes = id.bytes
        #expect(bytes[6] >> 4 == 4)
        #expect(bytes[8] >> 6 == 0b10)
        #expect(RecordID.random() != id)
    }

    @Test func replicaIDsOrderByBytesAndRoundTripHex() throws {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes[31] = 1
        let small = ReplicaID(bytes: bytes)!
        bytes[0] = 1
        let large = ReplicaID(bytes: bytes)!
        #expect(small < large)
        #expect(try ReplicaID(hex: large.hex) == large)
        #expect(large.bytes == bytes)
        #expect(ReplicaID(bytes: [1, 2]) == nil)
        #expect(throws: ConcordCoreError.self) { try ReplicaID(hex: "xyz") }
    }

    @Test func stampsOrderByClockThenReplica() {
        #expect(stamp(1, 0, 9) < stamp(1, 1, 1))
        #expect(stamp(1, 1, 1) < stamp(1, 1, 2))
    }
}
