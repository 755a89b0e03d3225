import Testing
import ConcordCore
import ConcordCrypto
@testable import Concord
@testable import ConcordProtocol

@Suite struct SpaceTests {
    /// Known answers computed independently with PyNaCl (`Specs/wire-format.md`, 7.8).
    @Test func spaceIDAndContentKeyMatchIndependentDerivation() throws {
        let s = space(5)
        #expect(s.id.hex == "6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1")
        let key = try #require(s.contentKey)
        #expect(key.secret.withUnsafeBytes { hex($0) } == "d2dc2baf5f96dddd6db164b23b92ee5ba3699159b290652435218c7e61254144")
        #expect(space(5, encrypted: false).contentKey == nil)
        #expect(Space.contentKeyContext.utf8.count == KeyDerivation.contextByteCount)
    }

    @Test func createSpaceMakesTheDeviceItsFirstWriter() throws {
        let device = identity(7)
        let alice = Membership.createSpace(device: device, issuedAt: t0)
        #expect(alice.role == .writer)
        #expect(alice.canInvite)
        #expect(alice.isEncrypted)
        #expect(alice.certificates!.certificates.count == 1)
        #expect(alice.certificates!.subject == device.publicKey)
        #expect(alice.replicaID.bytes == device.publicKey.bytes)
        #expect(alice.makeReplica().id == alice.replicaID)
        try alice.certificates!.verify(spaceID: alice.spaceID, now: t0, maxDrift: 0)
        // Every new space is a new key pair.
        #expect(Membership.createSpace(device: device).spaceID != alice.spaceID)
        #expect(!Membership.createSpace(encrypted: false).isEncrypted)
    }

    @Test func spaceIDParsesAndRejectsBadText() throws {
        let id = space(5).id
        #expect(try SpaceID(hex: id.hex) == id)
        #expect(try SpaceID(hex: id.hex.uppercased()) == id)
        #expect(try SpaceID(bytes: id.bytes) == id)
        expectError(.invalidIdentifier) { try SpaceID(hex: "abc") }
        expectError(.invalidIdentifier) { try SpaceID(hex: String(repeating: "g", count: 64)) }
        expectError(.invalidIdentifier) { try SpaceID(bytes: [1, 2, 3]) }
        #expect(id.shortDescription == "6e7a1cdd")
    }

    @Test func writersAndReadersJoinWithTheirOwnKeys() throws {
        let alice = writer(1, of: space(5))
        let bob = try Membership.join(alice.writerInvite(), device: identity(2), issuedAt: t0)
        #expect(bob.role == .writer && bob.spaceID == alice.spaceID && bob.canInvite)
        #expect(bob.certificates!.subject == identity(2).publicKey)
        try bob.certificates!.verify(spaceID: alice.spaceID, now: t0, maxDrift: 0)

        let invite = try alice.readerInvite(issuedAt: t0)
        let carol = try Membership.join(invite, device: identity(3), issuedAt: t0)
        let dave = try Membership.join(invite, device: identity(4), issuedAt: t0)
        #expect(carol.role == .reader && !carol.canInvite)
        #expect(carol.certificates!.certificates.map(\.role) == [.readerIssuer, .reader])
        #expect(carol.certificates!.subject != dave.certificates!.subject)
        #expect(carol.certificates!.certificates[0] == dave.certificates!.certificates[0])
        try carol.certificates!.verify(spaceID: alice.spaceID, now: t0, maxDrift: 0)
        try dave.certificates!.verify(spaceID: alice.spaceID, now: t0, maxDrift: 0)
        #expect(carol.contentKey?.isEqual(to: alice.contentKey!) == true)

        expectError(.notAWriter) { try carol.writerInvite() }
        expectError(.notAWriter) { try carol.readerInvite() }
    }

    @Test func errorsCarryCodeAndActionableMessage() {
        let error = ConcordError(.notAWriter, "ask a writer")
        #expect(error.description == "notAWriter: ask a writer")
        #expect(error == ConcordError(.notAWriter, "ask a writer"))
        let core = ConcordError(ConcordCoreError(.malformedEncoding, "bad at byte 3"), context: "change bundle")
        #expect(core.code == .malformedBundle && core.message == "change bundle: bad at byte 3")
        #expect(ConcordError(ConcordCoreError(.clockDriftExceeded, "x")).code == .clockDriftExceeded)
        #expect(ConcordError(ConcordCryptoError(.decryptionFailed, "x")).code == .decryptionFailed)
        #expect(ConcordError(ConcordCryptoError(.invalidKeyLength, "x")).code == .invalidKey)
    }
}
