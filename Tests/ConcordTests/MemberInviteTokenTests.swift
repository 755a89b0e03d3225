import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Testing

/// Invite tokens of format 2 (`Specs/membership.md` §4).
@Suite struct MemberInviteTokenTests {
    let space = SpaceID(publicKey: identity(0x41).publicKey)
    let epoch = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x44, count: 32)))
    let peer = try! SymmetricKey(bytes: [UInt8](repeating: 0x45, count: 32))

    func token(encrypted: Bool, role: MemberRole = .writer) -> MemberInviteToken {
        MemberInviteToken(
            spaceID: space, inviteKey: identity(0x42), role: role, expires: 1_900_000_000_000,
            inviteStamp: 0x0123_4567_89AB_CDEF, currentEpoch: encrypted ? epoch : nil,
            peerSecret: encrypted ? peer : nil)
    }

    @Test("both kinds round-trip with the sizes of §4", arguments: [false, true])
    func roundTrip(encrypted: Bool) throws {
        for role in MemberRole.allCases {
            let original = token(encrypted: encrypted, role: role)
            let bytes = original.encoded()
            #expect(bytes.count == (encrypted ? 167 : 87))
            #expect(original.text.count == 9 + (encrypted ? 268 : 140))
            #expect(original.text.hasPrefix("concord2-"))
            for text in [original.text, original.text.uppercased(), "  \n" + original.text + "\t\n"] {
                let read = try MemberInviteToken(text)
                #expect(read.spaceID == space && read.inviteID == identity(0x42).publicKey)
                #expect(read.role == role && read.expires == 1_900_000_000_000 && read.inviteStamp == 0x0123_4567_89AB_CDEF)
                #expect(read.isEncrypted == encrypted)
                #expect(read.currentEpoch?.isEqual(to: epoch) ?? !encrypted)
                #expect(
                    read.peerSecret.map { $0.secret.withUnsafeBytes { Array($0) } == [UInt8](repeating: 0x45, count: 32) } ?? !encrypted)
                #expect(read.encoded() == bytes)
            }
        }
        #expect(!token(encrypted: encrypted).description.contains(epoch.id.hex) || !encrypted)
        #expect(token(encrypted: encrypted).isExpired(at: 1_900_000_000_000))
        #expect(!token(encrypted: encrypted).isExpired(at: 1_899_999_999_999))
    }

    @Test("every changed character is refused (checksum, alphabet or length)")
    func everyCharacter() throws {
        let text = Array(token(encrypted: true).text)
        for position in 9..<text.count {
            var changed = text
            changed[position] = changed[position] == "a" ? "b" : "a"
            let error = #expect(throws: ConcordError.self) { try MemberInviteToken(String(changed)) }
            #expect(error?.code == .inviteChecksumMismatch || error?.code == .invalidInvite, "position \(position)")
        }
        expectError(.invalidInvite) { try MemberInviteToken(String(text.dropLast(1))) }
        expectError(.inviteChecksumMismatch) { try MemberInviteToken(String(text.dropLast(4))) }
        expectError(.invalidInvite) { try MemberInviteToken(String(text.prefix(9)) + "0" + String(text.dropFirst(10))) }
    }

    @Test("other formats and prefixes: concord1 is older, concord3 newer, anything else not a token")
    func otherFormats() throws {
        let old = expectError(.unsupportedVersion) { try MemberInviteToken("concord1-aeaw46q43uu3bn4p2e5pjrkzr7x7j3zks4") }
        #expect(old?.message.contains("made by an older Concord; ask for a new invite") == true)
        expectError(.unsupportedVersion) { try MemberInviteToken("CONCORD1-AEAW") }
        let newer = expectError(.unsupportedVersion) { try MemberInviteToken("concord3-aaaa") }
        #expect(newer?.message.contains("newer") == true)
        expectError(.invalidInvite) { try MemberInviteToken("hello") }
        expectError(.invalidInvite) { try MemberInviteToken("") }
    }

    @Test("bytes with a valid checksum but a bad field are refused")
    func badFields() throws {
        func resealed(_ edit: (inout [UInt8]) -> Void, encrypted: Bool = true) -> [UInt8] {
            var content = Array(token(encrypted: encrypted).encoded().dropLast(4))
            edit(&content)
            return content + Array(Blake2b.hash(content).bytes.prefix(4))
        }
        expectError(.unsupportedVersion) { try MemberInviteToken.decode(resealed { $0[0] = 3 }) }
        expectError(.unsupportedVersion) { try MemberInviteToken.decode(resealed { $0[0] = 1 }) }
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0[33] = 2 }) }  // flags
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0[33] = 0 }) }  // says unencrypted, is 135
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed({ $0[33] = 1 }, encrypted: false)) }
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0[66] = 0 }) }  // role
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0[66] = 4 }) }
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0[83] ^= 1 }) }  // epoch key id
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0.append(0) }) }  // length
        expectError(.invalidInvite) { try MemberInviteToken.decode(resealed { $0.removeLast() }) }
        expectError(.invalidInvite) { try MemberInviteToken.decode([1, 2, 3]) }
        // The offsets above are the fields they name: undoing the edit decodes.
        #expect(try MemberInviteToken.decode(resealed { _ in }).role == .writer)
    }
}
