import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Testing

/// The cost of a rotation in a 1,000-member space (issue 13: under 1 s and 200 KB).
/// Printed, not asserted against a time: the figure depends on the machine and build mode.
@Suite struct MembershipRotationCostTests {
    @Test("a rotation to 1,000 recipients: its size and the time to seal and to open one box")
    func rotationToAThousand() throws {
        let members = (0..<1_000).map { index in
            try! Identity(seed: Array(repeating: UInt8(truncatingIfNeeded: index), count: 30) + [UInt8(index >> 8), 0x5A])
        }
        let history = (0..<10).map { _ in EpochKey() }
        let epoch = EpochKey()
        let clock = ContinuousClock()
        var field: EpochField?
        let sealing = try clock.measure {
            field = try EpochField.sealing(epoch, to: members.map(\.publicKey), history: history)
        }
        let rotation = try #require(field)
        let payload = MembershipOp.rotate(rotation).encoded()
        // 1 version + 1 kind + 16 key id + 2 varint + 1,000 × 112 + 1 length + 24 + 16 + 10 × 48.
        #expect(payload.count == 2 + 16 + 2 + 1_000 * 112 + 2 + 24 + 16 + 48 * 10)
        var decoded: MembershipOp?
        let decoding = try clock.measure { decoded = try MembershipOp(payload: payload, encrypted: true) }
        #expect(decoded == .rotate(rotation))
        let member = members[617]
        var older: [EpochKey] = []
        let opening = try clock.measure {
            older = try rotation.openHistory(with: rotation.openKey(with: member))
        }
        #expect(older.count == 10)
        #if DEBUG
        let mode = "debug"
        #else
        let mode = "release"
        #endif
        print(
            "rotation to 1,000 recipients (\(mode) build): payload \(payload.count) bytes, sealing \(sealing), decoding \(decoding), one member opening its key and a 10-key history \(opening)"
        )
    }
}
