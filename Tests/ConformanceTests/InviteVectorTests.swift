import Concord
import ConcordCore
import Foundation
import Testing

/// `Specs/vectors/invites.jsonl` (`Specs/wire-format.md` section 7.4): every valid text
/// parses to its kind, space and encryption flag and re-encodes to its token bytes; every
/// invalid one fails with its code.
@Suite struct InviteVectorTests {
    @Test func everyInviteVectorConforms() throws {
        let cases = try VectorConformanceTests.load("invites.jsonl")
        #expect(cases.count >= 15)
        #expect(Set(cases.map(\.expected)) == ["valid", "invalidInvite", "inviteChecksumMismatch", "unsupportedVersion"])
        for v in cases {
            let text = try v.string("text")
            guard v.expected == "valid" else {
                #expect(throws: ConcordError.self, "\(v.name)") { try InviteToken(text) }
                do {
                    _ = try InviteToken(text)
                } catch let error as ConcordError {
                    #expect(error.code.description == v.expected, "\(v.name): \(error)")
                }
                continue
            }
            let token = try InviteToken(text)
            #expect("\(token.kind)" == (try v.string("kind")), "\(v.name)")
            #expect(token.spaceID.hex == (try v.string("space_id_hex")), "\(v.name)")
            #expect(token.isEncrypted == (try v.flag("encrypted")), "\(v.name)")
            // The canonical text is the prefix and the lowercase base32 of the token bytes.
            let bytes = try v.bytes("token_hex")
            #expect(token.text == InviteToken.prefix + base32(bytes), "\(v.name)")
        }
    }

    func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var (text, buffer, bits): (String, UInt32, UInt32) = ("", 0, 0)
        for byte in bytes {
            (buffer, bits) = (buffer << 8 | UInt32(byte), bits + 8)
            while bits >= 5 {
                bits -= 5
                text.append(alphabet[Int(buffer >> bits & 31)])
            }
        }
        if bits > 0 { text.append(alphabet[Int(buffer << (5 - bits) & 31)]) }
        return text
    }
}
