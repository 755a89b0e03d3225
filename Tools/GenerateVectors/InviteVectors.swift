// Specs/vectors/invites.jsonl: invite token texts (format 1, Specs/wire-format.md section
// 7.4) parsed with `InviteToken(_:)`. Valid cases give the kind, space, encryption flag
// and the token bytes; invalid ones the error code. Test keys only (the seeds of
// bundles.jsonl). Format 1 tokens are replaced by issue 13; these cases pin the parsing
// rules the text left open: case, whitespace and the base32 lengths.
import Concord
import ConcordCore
import ConcordCrypto

@MainActor var inviteLines: [String] = []

@MainActor func addInviteVectors() {
    let writer = BundleFixtures.plain.writerInviteText
    let reader = BundleFixtures.sealed.readerInviteText(issuerByte: BundleFixtures.readerIssuerSeed)
    let prefix = InviteToken.prefix
    let body = String(writer.dropFirst(prefix.count))

    func add(_ name: String, _ description: String, _ text: String) {
        var pairs: [(String, JSON)] = [("name", .string(name)), ("description", .string(description))]
        do {
            let token = try InviteToken(text)
            let bytes = try base32Decode(String(token.text.dropFirst(prefix.count)))
            pairs += [("expected", .string("valid")), ("text", .string(text)), ("kind", .string("\(token.kind)")),
                      ("space_id_hex", .string(token.spaceID.hex)), ("encrypted", .bool(token.isEncrypted)),
                      ("token_hex", .string(hex(bytes)))]
        } catch let error as ConcordError {
            pairs += [("expected", .string(error.code.description)), ("text", .string(text))]
        } catch {
            problems.append("invite \(name): \(error)")
        }
        inviteLines.append(line(pairs))
    }
    /// `bytes` as a token text, with a correct checksum.
    func token(_ bytes: [UInt8]) -> String {
        prefix + InviteText.base32(bytes + Blake2b.hash(bytes).bytes.prefix(4))
    }

    add("writer_plaintext_space", "the writer invite of the plaintext space (seed 05 x 32)", writer)
    add("reader_encrypted_space", "a reader invite of the encrypted space (seed 06 x 32; reader issuer 0d x 32)", reader)
    add("uppercase_prefix", "CONCORD1- in capitals, the body in lowercase: accepted", prefix.uppercased() + body)
    add("uppercase_body", "the body in capitals: accepted (base32 is case-insensitive)", prefix + body.uppercased())
    add("surrounding_whitespace", "spaces, a tab and line breaks before and after the token are ignored", " \n\t" + writer + "\r\n ")
    add("whitespace_inside", "a space inside the body: invalidInvite naming its position",
        prefix + body.prefix(20) + " " + body.dropFirst(20))
    add("digit_one_inside", "the digit 1 (not in the base32 alphabet) in place of a letter",
        prefix + body.prefix(10) + "1" + body.dropFirst(11))
    add("prefix_missing", "the body without its prefix", body)
    add("prefix_other_version", "a concord2- prefix: a newer format", "concord2-" + body)
    add("prefix_without_version", "a concord- prefix", "concord-" + body)
    // The last group is all "a" (zero bits), so only the length rule is broken: a reader
    // that skipped it would decode zero bits and fail the checksum instead.
    for length in [113, 107, 110] {
        let whole = length - length % 8
        add("body_length_\(length)_leaves_\(length % 8)_characters", "the body cut to \(whole) characters and \(length % 8) more \"a\" (zero bits), \(length) in all: no whole number of bytes has that length",
            prefix + body.prefix(whole) + String(repeating: "a", count: length % 8))
    }
    add("body_length_112_checksum_mismatch", "the body cut to 112 characters, a length whole bytes can have (70 bytes): the checksum fails",
        prefix + body.prefix(112))
    let last = Array("abcdefghijklmnopqrstuvwxyz234567")
    let lastValue = last.firstIndex(of: body.last!)!
    add("nonzero_trailing_bits", "the last character changed so that the 2 bits after the last whole byte are not zero",
        prefix + body.dropLast() + String(last[lastValue | 0b01]))
    add("checksum_mismatch", "one character of the body changed (the bytes decode, the checksum does not match)",
        prefix + body.prefix(30) + (body[body.index(body.startIndex, offsetBy: 30)] == "a" ? "b" : "a") + body.dropFirst(31))
    let space = BundleFixtures.plain
    let content: [UInt8] = [1, 1] + space.id.bytes + [0] + space.seed
    add("token_version_2", "token bytes of format 2 with a correct checksum", token([2] + content.dropFirst()))
    add("token_kind_3", "token bytes of kind 3 with a correct checksum", token([1, 3] + content.dropFirst(2)))
    add("token_flags_2", "token bytes with flags 02 with a correct checksum", token(Array(content.prefix(34)) + [2] + space.seed))
    add("writer_seed_of_another_space", "a writer token whose seed is not the space's", token(Array(content.prefix(35)) + BundleFixtures.other.seed))
    add("too_short", "a body of 8 characters (5 bytes): shorter than a version, a kind and a checksum", prefix + "aaaaaaaa")
}

/// RFC 4648 base32 (either case, no padding), for the token bytes of valid cases.
func base32Decode(_ text: String) throws -> [UInt8] {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
    var (buffer, bits, out): (UInt32, UInt32, [UInt8]) = (0, 0, [])
    for character in text.lowercased() {
        guard let value = alphabet.firstIndex(of: character) else { throw Failure("not base32: \(character)") }
        buffer = (buffer << 5 | UInt32(value)) & 0xFFFF
        bits += 5
        if bits >= 8 {
            bits -= 8
            out.append(UInt8(truncatingIfNeeded: buffer >> bits))
        }
    }
    return out
}
