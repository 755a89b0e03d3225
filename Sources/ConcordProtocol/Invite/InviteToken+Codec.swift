import ConcordCore
import ConcordCrypto

extension InviteToken {
    /// Offsets shared by both kinds (`Specs/wire-format.md`, section 7.4).
    private static let fixedHeaderByteCount = 35  // version, kind, space id, flags

    /// The token bytes: fixed header, kind-specific secrets, 4-byte checksum.
    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 180)
        writer.write(Self.version)
        writer.write(kind.rawValue)
        writer.write(contentsOf: spaceID.bytes)
        writer.write(isEncrypted ? 1 : 0)
        switch secret {
        case .writer(let seed):
            seed.withUnsafeBytes { writer.write(contentsOf: $0) }
        case let .reader(contentKey, issuer, certificate):
            if let contentKey { contentKey.secret.withUnsafeBytes { writer.write(contentsOf: $0) } }
            issuer.seed.withUnsafeBytes { writer.write(contentsOf: $0) }
            writer.writeFixed64(certificate.issuedAt)
            writer.write(contentsOf: certificate.signature.bytes)
        }
        var bytes = writer.bytes
        bytes += Self.checksum(bytes)
        return bytes
    }

    /// The first 4 bytes of BLAKE2b-256 of `bytes`.
    static func checksum(_ bytes: some Collection<UInt8>) -> [UInt8] {
        Array(Blake2b.hash(bytes).bytes.prefix(checksumByteCount))
    }

    static func parse(_ raw: String) throws -> InviteToken {
        let text = raw.trimmingWhitespace()
        guard text.utf8.count >= prefix.utf8.count, text.prefix(prefix.count).lowercased() == prefix else {
            if let other = foreignVersion(of: text) {
                throw ConcordError(.unsupportedVersion, "this is a \"\(other)\" invite token, from a newer version of Concord; update Concord on this device, then use the token again")
            }
            throw ConcordError(.invalidInvite, "an invite token starts with \"\(prefix)\", this text starts with \"\(text.prefix(prefix.count))\"; copy the whole token, including its beginning")
        }
        let body = text.dropFirst(prefix.count)
        let bytes: [UInt8]
        do {
            bytes = try Base32.decode(body)
        } catch .invalidCharacter(let index, let character) {
            let shown = character.isWhitespace ? "a space or line break" : "'\(character)'"
            throw ConcordError(.invalidInvite, "the invite token has \(shown) at position \(prefix.count + index + 1), where only the letters a-z and the digits 2-7 can appear; the token was mistyped (0, 1, 8 and 9 never occur), copy it again")
        } catch {
            throw mistyped("its length does not match any token")
        }
        guard bytes.count > 2 + checksumByteCount else { throw mistyped("it is too short") }
        let content = bytes.dropLast(checksumByteCount)
        guard ConstantTime.isEqual(checksum(content), bytes.suffix(checksumByteCount)) else {
            throw ConcordError(.inviteChecksumMismatch, "the invite token's checksum does not match: the token was mistyped or truncated; copy it again from the person who sent it")
        }
        guard bytes[0] == version else {
            throw ConcordError(.unsupportedVersion, "invite token format \(bytes[0]) is not supported by this version of Concord (it reads format \(version)); update Concord on this device")
        }
        return try decodeContent(Array(content))
    }

    private static func decodeContent(_ bytes: [UInt8]) throws -> InviteToken {
        guard let kind = Kind(rawValue: bytes[1]) else {
            throw ConcordError(.invalidInvite, "the invite token is of unknown kind \(bytes[1]); update Concord on this device or ask for a new invite")
        }
        let keyLength = Identity.seedByteCount
        guard bytes.count >= fixedHeaderByteCount else { throw inconsistent("it is shorter than its header") }
        let spaceID = try SpaceID(bytes: bytes[2..<34])
        guard bytes[34] <= 1 else { throw inconsistent("its flags byte is \(bytes[34])") }
        let isEncrypted = bytes[34] == 1
        var rest = bytes[fixedHeaderByteCount...]
        switch kind {
        case .writer:
            guard rest.count == keyLength else { throw inconsistent("a writer invite holds \(keyLength) secret bytes, this one \(rest.count)") }
            let space = try Space(seed: SecretBytes(rest), encrypted: isEncrypted)
            guard space.id == spaceID else { throw inconsistent("its secret does not belong to its space") }
            return InviteToken(spaceID: spaceID, isEncrypted: isEncrypted, secret: .writer(spaceSeed: space.seed))
        case .reader:
            let expected = (isEncrypted ? keyLength : 0) + keyLength + 8 + Signature.byteCount
            guard rest.count == expected else { throw inconsistent("a reader invite holds \(expected) secret bytes, this one \(rest.count)") }
            var contentKey: SymmetricKey?
            if isEncrypted {
                contentKey = try ConcordError.mapping { try SymmetricKey(bytes: rest.prefix(keyLength)) }
                rest = rest.dropFirst(keyLength)
            }
            let issuer = try ConcordError.mapping { try Identity(seed: rest.prefix(keyLength)) }
            var reader = ByteReader(Array(rest.dropFirst(keyLength)))
            let issuedAt = try ConcordError.mapping { try reader.readFixed64() }
            let signature = try ConcordError.mapping { try Signature(bytes: reader.readBytes(Signature.byteCount)) }
            let certificate = MembershipCertificate(spaceID: spaceID, subject: issuer.publicKey, role: .readerIssuer, issuedAt: issuedAt, signature: signature)
            guard (try? certificate.verifySignature(issuer: spaceID.publicKey)) != nil else {
                throw inconsistent("its reader-issuer certificate was not signed by the space")
            }
            return InviteToken(spaceID: spaceID, isEncrypted: isEncrypted, secret: .reader(contentKey: contentKey, issuer: issuer, issuerCertificate: certificate))
        }
    }

    /// `concord2` for `concord2-...`: a token prefix of another format version.
    private static func foreignVersion(of text: String) -> String? {
        let lower = text.lowercased()
        guard lower.hasPrefix("concord"), let dash = lower.firstIndex(of: "-") else { return nil }
        let digits = lower[lower.index(lower.startIndex, offsetBy: 7)..<dash]
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), digits != "1" else { return nil }
        return String(lower[..<dash])
    }

    private static func mistyped(_ why: String) -> ConcordError {
        ConcordError(.invalidInvite, "the invite token cannot be read (\(why)): the token was mistyped or truncated; copy it again from the person who sent it")
    }

    private static func inconsistent(_ why: String) -> ConcordError {
        ConcordError(.invalidInvite, "the invite token is not valid (\(why)); ask a member of the space for a new invite")
    }
}

extension String {
    /// The string without leading and trailing whitespace and line breaks.
    func trimmingWhitespace() -> String {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return String(self[start..<end])
    }
}
