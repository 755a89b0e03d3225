import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Testing

/// Epoch keys of `Specs/membership.md` §2, §3 and §7: sealing a new key to the recipients,
/// opening it (devices and invite keys), the history blob, and what a removed device or a
/// tampered field gets.
@Suite struct MembershipKeysTests {
    let admin = identity(0x31), tablet = identity(0x32), laptop = identity(0x33), lost = identity(0x34)
    let invite = identity(0x35)

    @Test("every recipient opens the new key; recipients are sorted, distinct, 80-byte boxes")
    func everyRecipientOpens() throws {
        let epoch = EpochKey()
        let people = [laptop, admin, invite, tablet]
        let field = try EpochField.sealing(epoch, to: people.map(\.publicKey) + [admin.publicKey])
        #expect(field.keyID == epoch.id)
        #expect(field.recipientKeys == people.map(\.publicKey).sorted())
        #expect(field.recipients.allSatisfy { $0.sealed.count == 80 })
        #expect(field.history.isEmpty)
        for person in people {
            let opened = try field.openKey(with: person)
            #expect(opened.isEqual(to: epoch) && opened.id == epoch.id)
        }
        // The field survives the op codec, and opens the same after decoding.
        let op = MembershipOp.rotate(field)
        guard case .rotate(let decoded) = try MembershipOp(payload: op.encoded(), encrypted: true) else {
            Issue.record("a rotate op decoded as another kind")
            return
        }
        #expect(try decoded.openKey(with: tablet).isEqual(to: epoch))
    }

    @Test("the key id is BLAKE2b-256(\"concord-epoch-id-v1\" || key)[0..<16]")
    func keyID() throws {
        let key = try SymmetricKey(bytes: [UInt8](repeating: 0x42, count: 32))
        let expected = Blake2b.hash(Array("concord-epoch-id-v1".utf8) + [UInt8](repeating: 0x42, count: 32)).bytes.prefix(16)
        #expect(EpochKey(key: key).id.bytes == Array(expected))
    }

    @Test("a removed device is no recipient of the new key and cannot open another's box")
    func removedDevice() throws {
        let before = EpochKey()
        let old = try EpochField.sealing(before, to: [admin, tablet, lost].map(\.publicKey))
        #expect(try old.openKey(with: lost).isEqual(to: before))  // what it keeps
        let after = EpochKey()
        let new = try EpochField.sealing(after, to: [admin, tablet].map(\.publicKey), history: [before])
        let error = expectError(.notARecipient) { try new.openKey(with: lost) }
        #expect(error?.message.contains(after.id.hex) == true)
        // Relabelling someone else's box as its own does not help: the box is not for its key.
        for other in new.recipients {
            let relabelled = [EpochField.Recipient(key: lost.publicKey, sealed: other.sealed)]
            expectError(.decryptionFailed) { try EpochField.openSealedKey(in: relabelled, keyID: new.keyID, with: lost) }
        }
        // Nor does the key it held: the history is under the new key.
        expectError(.decryptionFailed) { try new.openHistory(with: before) }
        expectError(.decryptionFailed) { try EpochField.openHistoryBlob(new.history, with: before) }
    }

    @Test("an invite key opens the key sealed to its invite id")
    func inviteKey() throws {
        let epoch = EpochKey()
        let field = try EpochField.sealing(epoch, to: [admin.publicKey, invite.publicKey])
        let token = MemberInviteToken(
            spaceID: SpaceID(publicKey: identity(0x30).publicKey), inviteKey: invite, role: .writer,
            expires: 2_000_000_000_000, inviteStamp: 1, currentEpoch: nil, peerSecret: nil)
        let read = try MemberInviteToken(token.text)
        #expect(try field.openKey(with: read.inviteKey).isEqual(to: epoch))
    }

    @Test("a new member opening the newest key reads every older key through the history")
    func newMemberReadsHistory() throws {
        var held: [EpochKey] = [EpochKey()]
        var field = try EpochField.sealing(held[0], to: [admin.publicKey])
        for _ in 1...4 {
            let next = EpochKey()
            field = try EpochField.sealing(next, to: [admin, tablet].map(\.publicKey), history: held)
            held.append(next)
        }
        let newest = try field.openKey(with: tablet)
        #expect(newest.isEqual(to: held.last!))
        #expect(field.history.count == 24 + 16 + 48 * 4)
        let older = try field.openHistory(with: newest)
        #expect(older.count == 4)
        for (got, want) in zip(older, held.dropLast()) {
            #expect(got.id == want.id && got.isEqual(to: want))
        }
    }

    @Test("a fixed nonce gives a fixed history blob; an empty history is an empty blob")
    func deterministicHistory() throws {
        let epoch = EpochKey(key: try SymmetricKey(bytes: [UInt8](repeating: 9, count: 32)))
        let old = EpochKey(key: try SymmetricKey(bytes: [UInt8](repeating: 8, count: 32)))
        let nonce = try XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: 7, count: 24))
        let blob = EpochField.historyBlob([old], under: epoch, nonce: nonce)
        #expect(blob == EpochField.historyBlob([old], under: epoch, nonce: nonce))
        #expect(blob.prefix(24) == nonce.bytes[...])
        let plaintext = try XChaCha20Poly1305.open(
            XChaCha20Poly1305.SealedBox(combined: blob), using: epoch.key, authenticating: epoch.id.bytes)
        #expect(plaintext == old.id.bytes + [UInt8](repeating: 8, count: 32))
        #expect(EpochField.historyBlob([], under: epoch).isEmpty)
        #expect(try EpochField.openHistoryBlob([], with: epoch).isEmpty)
    }

    @Test("tampered boxes, history and forged keys fail with typed errors")
    func tampering() throws {
        let epoch = EpochKey(), old = EpochKey()
        let field = try EpochField.sealing(epoch, to: [admin, tablet].map(\.publicKey), history: [old])
        let mine = try #require(field.recipients.firstIndex { $0.key == tablet.publicKey })
        for index in 0..<80 {
            var recipients = field.recipients
            var box = recipients[mine].sealed
            box[index] ^= 0x01
            recipients[mine] = .init(key: tablet.publicKey, sealed: box)
            let altered = try EpochField(keyID: field.keyID, recipients: recipients, history: field.history)
            expectError(.decryptionFailed) { try altered.openKey(with: tablet) }
        }
        for index in field.history.indices {
            var blob = field.history
            blob[index] ^= 0x80
            expectError(.decryptionFailed) { try EpochField.openHistoryBlob(blob, with: epoch) }
        }
        // A box holding a key other than the one the key id names (a forged op).
        let forged = try EpochField(keyID: field.keyID, recipients: EpochField.sealedKeys(EpochKey(), to: [tablet.publicKey]))
        let error = expectError(.decryptionFailed) { try forged.openKey(with: tablet) }
        #expect(error?.message.contains("forged") == true)
        // A history entry whose key id does not match its key, or a repeated key.
        let wrongID = XChaCha20Poly1305.seal(
            EpochKey().id.bytes + [UInt8](repeating: 1, count: 32), using: epoch.key, authenticating: epoch.id.bytes
        ).combined
        expectError(.malformedBundle) { try EpochField.openHistoryBlob(wrongID, with: epoch) }
        let repeated = EpochField.historyBlob([old, old], under: epoch)
        expectError(.malformedBundle) { try EpochField.openHistoryBlob(repeated, with: epoch) }
        // A blob of a shape no history has.
        expectError(.malformedBundle) { try EpochField.openHistoryBlob([UInt8](repeating: 0, count: 41), with: epoch) }
        // A recipient that is not a curve point cannot be sealed to.
        let bad = try PublicKey(bytes: [UInt8](repeating: 0xFF, count: 32))
        expectError(.invalidKey) { try EpochField.sealing(epoch, to: [bad]) }
        expectError(.malformedBundle) { try EpochField.sealing(epoch, to: []) }
    }
}
