import Concord
import ConcordCore
import ConcordCrypto
import Foundation
import Testing

/// The `token` (invite tokens of format 2, `Specs/membership.md` §4) and `history`
/// (history blobs, §3) cases of `Specs/vectors/membership.jsonl`.
extension MembershipVectorTests {
    func checkToken(_ v: Vector) throws {
        let text = try v.string("text")
        guard v.expected == "valid" else {
            do {
                _ = try MemberInviteToken(text)
                throw Mismatch(message: "\(v.name): read, expected \(v.expected)")
            } catch let error as ConcordError {
                guard "\(error.code)" == v.expected else { throw Mismatch(message: "\(v.name): \(error.code), expected \(v.expected)") }
            }
            return
        }
        let token = try MemberInviteToken(text)
        try same(token.spaceID.hex, v.json["space_id_hex"], "space id", v)
        try same(token.inviteID.hex, v.json["invite_id_hex"], "invite id", v)
        try same("\(token.role)", v.json["role"], "role", v)
        try same(String(token.expires), v.json["expires"], "expires", v)
        try same(String(token.inviteStamp), v.json["invite_stamp"], "invite stamp", v)
        try same(token.isEncrypted, v.json["encrypted"], "encrypted", v)
        try same(token.currentEpoch?.id.hex ?? "", v.json["epoch_key_id_hex"], "epoch key id", v)
        try same(
            token.peerSecret.map { $0.secret.withUnsafeBytes { Array($0) }.map { String(format: "%02x", $0) }.joined() } ?? "",
            v.json["peer_secret_hex"], "peer secret", v)
        let bytes = try v.bytes("token_hex")
        guard token.encoded() == bytes, try MemberInviteToken.decode(bytes).encoded() == bytes else {
            throw Mismatch(message: "\(v.name): the token bytes differ")
        }
        // The canonical text is the prefix and the lowercase base32 of the bytes.
        let canonical = try MemberInviteToken(token.text)
        guard canonical.encoded() == bytes, text.lowercased().contains(token.text) else {
            throw Mismatch(message: "\(v.name): the token text is not canonical")
        }
    }

    func checkHistory(_ v: Vector) throws {
        let key = EpochKey(key: try SymmetricKey(bytes: v.bytes("epoch_key_hex")))
        try same(key.id.hex, v.json["key_id_hex"], "key id", v)
        let blob = try v.bytes("blob_hex")
        guard v.expected == "valid" else {
            do {
                _ = try EpochField.openHistoryBlob(blob, with: key)
                throw Mismatch(message: "\(v.name): opened, expected \(v.expected)")
            } catch let error as ConcordError {
                guard "\(error.code)" == v.expected else { throw Mismatch(message: "\(v.name): \(error.code), expected \(v.expected)") }
            }
            return
        }
        let keys = try EpochField.openHistoryBlob(blob, with: key)
        let got = keys.map { k in ["key_id_hex": k.id.hex, "key_hex": k.key.secret.withUnsafeBytes { hexString($0) }] }
        try same(got, v.json["keys"], "keys", v)
    }

    func hexString(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined()
    }
}
