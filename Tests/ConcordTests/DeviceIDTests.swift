import ConcordCore
import ConcordCrypto
import ConcordTesting
import Testing

@testable import Concord
@testable import ConcordProtocol

/// `DeviceID`, the one public type that names a device: bytes, hex, order, and the
/// conversions to and from `PublicKey` and `ReplicaID`.
struct DeviceIDTests {
    let key = identity(3).publicKey

    @Test func itRoundTripsThroughTheKeyTheReplicaIDAndTheBytes() throws {
        let device = DeviceID(key)
        #expect(device.publicKey == key)
        #expect(PublicKey(device) == key)
        #expect(device.replicaID == ReplicaID(bytes: key.bytes)!)
        #expect(ReplicaID(device) == device.replicaID)
        #expect(DeviceID(device.replicaID) == device)
        #expect(device.bytes == key.bytes)
        #expect(try DeviceID(bytes: key.bytes) == device)
    }

    @Test func itPrintsAndParsesTheFullLowercaseHex() throws {
        let device = DeviceID(key)
        #expect(device.description == key.hex)
        #expect(device.hex == key.hex && device.hex.count == 64 && device.hex == device.hex.lowercased())
        #expect(device.shortDescription == String(key.hex.prefix(8)))
        #expect(try DeviceID(hex: device.hex) == device)
        #expect(try DeviceID(hex: device.hex.uppercased()) == device)
    }

    @Test func aPrefixOrMalformedTextIsNotADeviceID() {
        let hex = DeviceID(key).hex
        for text in [
            String(hex.prefix(8)), String(hex.prefix(63)), hex + "0", hex + "00", "", String(hex.dropLast()) + "g",
            " " + String(hex.dropFirst()),
        ] {
            #expect(throws: ConcordError.self, "\(text)") { try DeviceID(hex: text) }
            do {
                _ = try DeviceID(hex: text)
            } catch let error as ConcordError {
                #expect(error.code == .invalidIdentifier)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(throws: ConcordError.self) { try DeviceID(bytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: ConcordError.self) { try DeviceID(bytes: [UInt8](repeating: 1, count: 33)) }
    }

    @Test func itOrdersByItsBytesAsPublicKeyAndReplicaIDDo() throws {
        try PropertyRunner.check("DeviceID orders as its bytes", cases: 200) { rng in
            let a = (0..<32).map { _ in UInt8.random(in: 0...3, using: &rng) }
            let b = (0..<32).map { _ in UInt8.random(in: 0...3, using: &rng) }
            let da = try DeviceID(bytes: a)
            let db = try DeviceID(bytes: b)
            #expect((da < db) == a.lexicographicallyPrecedes(b))
            #expect((da < db) == (try PublicKey(bytes: a) < PublicKey(bytes: b)))
            #expect((da == db) == (a == b))
            #expect((da.hashValue == db.hashValue) || a != b)
        }
    }

    @Test func theAccessorsNameTheSameDeviceAsTheKeysTheyStandBeside() throws {
        let alice = writer(1, of: space(7))
        #expect(alice.deviceID == DeviceID(alice.device.publicKey))
        #expect(alice.deviceID.replicaID == alice.replicaID)
        var log = BundleLog()
        var replica = alice.makeReplica()
        let bundle = try alice.seal([try replica.set("title", to: .string("one"), record: todo, in: "todos")], appendingTo: &log)
        #expect(bundle.authorID == alice.deviceID)
        #expect(bundle.authorID.publicKey == bundle.author)
    }
}
