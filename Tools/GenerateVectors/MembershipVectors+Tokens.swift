// Specs/vectors/membership.jsonl, continued: invite tokens of format 2 (Specs/membership.md
// section 4, type "token") and history blobs (section 3, type "history"). Fixed test seeds
// and a fixed nonce, so the file is byte-identical on every run. TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto
import Foundation

@MainActor func addMembershipTokenVectors() {
    let space = SpaceID(publicKey: MembershipHistoryBuilder.key(0x50).publicKey)
    let inviteKey = MembershipHistoryBuilder.key(0x60)
    let epoch = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x70, count: 32)))
    let peerSecret = try! SymmetricKey(bytes: [UInt8](repeating: 0x75, count: 32))
    let expires: UInt64 = 1_800_604_800_000
    let stamp = MembershipHistoryBuilder.stamp(1_800_000_000_000)

    func add(_ name: String, _ description: String, _ text: String) {
        var pairs: [(String, JSON)] = [("name", .string(name)), ("type", .string("token")), ("description", .string(description))]
        do {
            let token = try MemberInviteToken(text)
            pairs.insert(("expected", .string("valid")), at: 1)
            pairs += [("text", .string(text)), ("space_id_hex", .string(token.spaceID.hex)), ("invite_id_hex", .string(token.inviteID.hex)),
                      ("role", .string("\(token.role)")), ("expires", .string(String(token.expires))),
                      ("invite_stamp", .string(String(token.inviteStamp))), ("encrypted", .bool(token.isEncrypted)),
                      ("epoch_key_id_hex", .string(token.currentEpoch?.id.hex ?? "")),
                      ("peer_secret_hex", .string(token.peerSecret.map { $0.secret.withUnsafeBytes { hex($0) } } ?? "")),
                      ("token_hex", .string(hex(token.encoded())))]
        } catch {
            pairs.insert(("expected", .string(error.code.description)), at: 1)
            pairs.append(("text", .string(text)))
        }
        membershipLines.append(line(pairs))
    }
    /// `content` with a correct checksum, as token text.
    func text(_ content: [UInt8]) -> String { MemberInviteToken.prefix + InviteText.base32(content + Blake2b.hash(content).bytes.prefix(4)) }

    let plain = MemberInviteToken(
        spaceID: space, inviteKey: inviteKey, role: .writer, expires: expires, inviteStamp: stamp, currentEpoch: nil, peerSecret: nil)
    let sealed = MemberInviteToken(
        spaceID: space, inviteKey: inviteKey, role: .reader, expires: expires, inviteStamp: stamp, currentEpoch: epoch, peerSecret: peerSecret)
    let admin = MemberInviteToken(
        spaceID: space, inviteKey: inviteKey, role: .admin, expires: expires, inviteStamp: stamp, currentEpoch: epoch, peerSecret: peerSecret)
    let body = String(sealed.text.dropFirst(MemberInviteToken.prefix.count))
    let content = Array(sealed.encoded().dropLast(4))

    add("token_writer_unencrypted", "a writer invite of an unencrypted space (space 50 x 32, invite seed 60 x 32): 87 bytes", plain.text)
    add("token_reader_encrypted", "a reader invite of an encrypted space carrying epoch key 70 x 32 and peer secret 75 x 32: 167 bytes", sealed.text)
    add("token_admin_encrypted", "an admin invite of the same space", admin.text)
    add("token_uppercase_and_whitespace", "CONCORD2- and the body in capitals, with whitespace around: accepted", " \n" + sealed.text.uppercased() + "\t\n")
    add("token_checksum_mismatch", "one character of the body changed", MemberInviteToken.prefix + body.prefix(30) + (body.dropFirst(30).first == "a" ? "b" : "a") + body.dropFirst(31))
    add("token_truncated", "the body without its last 4 characters (2 bytes)", String(sealed.text.dropLast(4)))
    add("token_bad_length", "the body without its last character: no whole number of bytes", String(sealed.text.dropLast(1)))
    add("token_bad_character", "the digit 0 (not in the base32 alphabet) in the body", MemberInviteToken.prefix + "0" + body.dropFirst())
    add("token_format_1", "a concord1- token: made by an older Concord", "concord1-" + body)
    add("token_format_3", "a concord3- token: a newer format", "concord3-" + body)
    add("token_no_prefix", "the body alone", body)
    add("token_version_byte_3", "version byte 3 with a correct checksum", text([3] + content.dropFirst()))
    add("token_flags_2", "a flags byte with bit 1 set", text(Array(content.prefix(33)) + [2] + content.dropFirst(34)))
    add("token_flags_disagree", "flags say unencrypted, the token has 167 bytes", text(Array(content.prefix(33)) + [0] + content.dropFirst(34)))
    add("token_role_0", "role byte 0 names no role", text(Array(content.prefix(66)) + [0] + content.dropFirst(67)))
    add("token_epoch_id_mismatch", "the epoch key id does not match the key", text(Array(content.prefix(83)) + [content[83] ^ 1] + content.dropFirst(84)))
    add("token_extra_byte", "one byte more than an encrypted token", text(content + [0]))
    add("token_without_peer_secret", "an encrypted token of 135 bytes (the layout before the peer secret)", text(Array(content.dropLast(32))))

    // The peer secret of a space: crypto_kdf_derive_from_key(32, 1, "CCpeersc", first epoch key).
    for byte: UInt8 in [0x70, 0x76] {
        let first = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: byte, count: 32)))
        let secret = try! Membership.peerSecret(firstEpoch: first)
        membershipLines.append(line([
            ("name", .string("peer_secret_\(String(format: "%02x", byte))")), ("expected", .string("valid")), ("type", .string("peer_secret")),
            ("description", .string("the peer secret of a space whose genesis epoch key is \(String(format: "%02x", byte)) x 32 (Specs/peer-protocol.md section 2.1)")),
            ("first_epoch_key_hex", .string(first.key.secret.withUnsafeBytes { hex($0) })),
            ("peer_secret_hex", .string(secret.secret.withUnsafeBytes { hex($0) })),
        ]))
    }

    // History blobs: epoch key 71 x 32 over keys 72 x 32 and 73 x 32, nonce 74 x 24.
    let newest = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x71, count: 32)))
    let older = [0x72, 0x73].map { EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: $0, count: 32))) }
    let nonce = try! XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: 0x74, count: 24))
    let blob = EpochField.historyBlob(older, under: newest, nonce: nonce)
    func history(_ name: String, _ description: String, _ blob: [UInt8], key: EpochKey = newest) {
        var pairs: [(String, JSON)] = [("name", .string(name)), ("type", .string("history")), ("description", .string(description)),
                                       ("epoch_key_hex", .string(key.key.secret.withUnsafeBytes { hex($0) })), ("key_id_hex", .string(key.id.hex)),
                                       ("blob_hex", .string(hex(blob)))]
        do {
            let keys = try EpochField.openHistoryBlob(blob, with: key)
            pairs.insert(("expected", .string("valid")), at: 1)
            pairs.append(("keys", .array(keys.map { k in
                .object([("key_id_hex", .string(k.id.hex)), ("key_hex", .string(k.key.secret.withUnsafeBytes { hex($0) }))]) })))
        } catch {
            pairs.insert(("expected", .string(error.code.description)), at: 1)
        }
        membershipLines.append(line(pairs))
    }
    history("history_two_keys", "epoch key 71 x 32 holds keys 72 x 32 and 73 x 32 (nonce 74 x 24; ad = the key id)", blob)
    history("history_empty", "an empty blob holds no keys", [])
    history("history_tampered", "the last byte of the tag flipped", Array(blob.dropLast()) + [blob.last! ^ 1])
    history("history_wrong_key", "opened with key 72 x 32 instead of the epoch's", blob, key: older[0])
    let forged = XChaCha20Poly1305.seal(
        older[1].id.bytes + [UInt8](repeating: 0x72, count: 32), using: newest.key, nonce: nonce, authenticating: newest.id.bytes
    ).combined
    history("history_key_id_mismatch", "an entry names key 73 x 32's id but holds 72 x 32", forged)
    history("history_bad_length", "41 bytes: neither empty nor a nonce, a tag and whole entries", Array(blob.prefix(41)))
}
