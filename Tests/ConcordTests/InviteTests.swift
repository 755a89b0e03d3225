import Testing
import ConcordCore
import ConcordCrypto
@testable import Concord
@testable import ConcordProtocol

@Suite struct InviteTests {
    let alice = writer(1, of: space(5))

    /// Known answer computed independently with PyNaCl and Python's base64.
    @Test func writerTokenMatchesIndependentEncoding() throws {
        let token = try alice.writerInvite()
        #expect(token.text == "concord1-aeaw46q43uu3bn4p2e5pjrkzr7x7j3zks4lg4pfg6lspx7gnqbifx4ibaucqkbifaucqkbifaucqkbifaucqkbifaucqkbifaucqkbifaucy2mod4y")
        #expect(token.text.count == InviteToken.prefix.count + 114)
    }

    @Test func tokensRoundTrip() throws {
        for token in [try alice.writerInvite(), try alice.readerInvite(issuedAt: t0), try writer(1, of: space(6, encrypted: false)).readerInvite()] {
            let text = token.text
            #expect(text.hasPrefix("concord1-"))
            #expect(text.dropFirst(9).allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
            let parsed = try InviteToken(text)
            #expect(parsed.kind == token.kind && parsed.spaceID == token.spaceID && parsed.isEncrypted == token.isEncrypted)
            #expect(parsed.text == text)
            // Case and surrounding whitespace do not matter (mail clients, chat apps).
            #expect(try InviteToken("  \n" + text.uppercased() + "\r\n").text == text)
        }
        #expect(try alice.readerInvite().text.count == 9 + 280)
        #expect(try writer(1, of: space(6, encrypted: false)).readerInvite().text.count == 9 + 229)
    }

    @Test func descriptionNeverShowsSecrets() throws {
        let token = try alice.writerInvite()
        #expect(token.description == "InviteToken(writer, space 6e7a1cdd, redacted)")
        #expect(!token.description.contains(String(token.text.suffix(20))))
    }

    @Test func joiningAParsedTokenGivesTheRightMembership() throws {
        let bob = try Membership.join(InviteToken(alice.writerInvite().text), device: identity(2), issuedAt: t0)
        #expect(bob.spaceID == alice.spaceID && bob.role == .writer)
        #expect(bob.contentKey?.isEqual(to: alice.contentKey!) == true)
        let carol = try Membership.join(InviteToken(alice.readerInvite(issuedAt: t0).text), device: identity(3), issuedAt: t0)
        #expect(carol.role == .reader && carol.spaceID == alice.spaceID)
        #expect(carol.contentKey?.isEqual(to: alice.contentKey!) == true)
        try carol.certificates!.verify(spaceID: alice.spaceID, now: t0, maxDrift: 0)
    }

    @Test func everySingleCharacterTypoIsCaught() throws {
        let text = try alice.writerInvite().text
        let characters = Array(text)
        for position in InviteToken.prefix.count..<characters.count {
            var typo = characters
            typo[position] = characters[position] == "q" ? "r" : "q"
            let error = #expect(throws: ConcordError.self) { try InviteToken(String(typo)) }
            #expect(error?.message.contains("mistyped") == true)
            if position < characters.count - 1 {
                #expect(error?.code == .inviteChecksumMismatch, "position \(position)")
            }
        }
    }

    @Test func preciseErrorsForBadTokens() throws {
        let text = try alice.writerInvite().text
        let prefix = expectError(.invalidInvite) { try InviteToken("concord-" + text.dropFirst(9)) }
        #expect(prefix?.message.contains("concord1-") == true)
        expectError(.invalidInvite) { try InviteToken("") }
        expectError(.unsupportedVersion) { try InviteToken("concord2-" + text.dropFirst(9)) }

        var characters = Array(text)
        characters[20] = "0"
        let character = expectError(.invalidInvite) { try InviteToken(String(characters)) }
        #expect(character?.message.contains("'0' at position 21") == true)
        let space = expectError(.invalidInvite) { try InviteToken(text.prefix(30) + " " + text.dropFirst(30)) }
        #expect(space?.message.contains("position 31") == true)

        for cut in [1, 2, 5, 8, 40, 100] {
            let error = #expect(throws: ConcordError.self) { try InviteToken(String(text.dropLast(cut))) }
            #expect(error?.message.contains("mistyped or truncated") == true, "cut \(cut)")
        }
    }

    @Test func unsupportedVersionAndInconsistentContentsAreReported() throws {
        var raw = try alice.writerInvite().encoded().dropLast(4)
        raw[raw.startIndex] = 2
        expectError(.unsupportedVersion) { try InviteToken(tokenText(Array(raw))) }

        // A checksum-valid token whose seed does not belong to its space id.
        var mixed = try alice.writerInvite().encoded().dropLast(4)
        mixed[mixed.startIndex + 40] ^= 1
        let error = expectError(.invalidInvite) { try InviteToken(tokenText(Array(mixed))) }
        #expect(error?.message.contains("does not belong") == true)

        var kind = try alice.writerInvite().encoded().dropLast(4)
        kind[kind.startIndex + 1] = 7
        expectError(.invalidInvite) { try InviteToken(tokenText(Array(kind))) }

        var flags = try alice.writerInvite().encoded().dropLast(4)
        flags[flags.startIndex + 34] = 2
        expectError(.invalidInvite) { try InviteToken(tokenText(Array(flags))) }

        // A reader token whose issuer certificate was not signed by the space.
        var reader = try alice.readerInvite().encoded().dropLast(4)
        reader[reader.endIndex - 1] ^= 1
        expectError(.invalidInvite) { try InviteToken(tokenText(Array(reader))) }

        expectError(.invalidInvite) { try InviteToken(tokenText(Array(try alice.writerInvite().encoded().dropLast(5)))) }
    }

    @Test func base32MatchesRFC4648() throws {
        // RFC 4648, section 10, lowercased and without padding.
        let cases = ["": "", "f": "my", "fo": "mzxq", "foo": "mzxw6", "foob": "mzxw6yq", "fooba": "mzxw6ytb", "foobar": "mzxw6ytboi"]
        for (plain, encoded) in cases {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(try Base32.decode(encoded) == Array(plain.utf8))
        }
        #expect(throws: Base32.DecodingError.invalidLength) { try Base32.decode("m") }
        #expect(throws: Base32.DecodingError.nonZeroTrailingBits) { try Base32.decode("mz") }
        #expect(throws: Base32.DecodingError.invalidCharacter(index: 1, character: "1")) { try Base32.decode("m1") }
    }

    /// The token text for `content` with a correct checksum appended.
    private func tokenText(_ content: [UInt8]) -> String {
        InviteToken.prefix + Base32.encode(content + InviteToken.checksum(content))
    }
}
