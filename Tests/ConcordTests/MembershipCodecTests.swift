import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Testing

/// The control payload of `Specs/membership.md` §3: every kind round-trips, and every
/// decoder check has a case that passes only while the check is there.
@Suite struct MembershipCodecTests {
    let a = identity(0x01).publicKey, b = identity(0x02).publicKey, c = identity(0x03).publicKey
    let signature = identity(0x01).sign([1, 2, 3])

    func epoch(_ keys: [PublicKey], history: [UInt8] = []) -> EpochField {
        try! EpochField(
            keyID: EpochKeyID(bytes: [UInt8](repeating: 0xE0, count: 16)),
            recipients: keys.sorted().map { .init(key: $0, sealed: [UInt8](repeating: 0x5E, count: 80)) }, history: history)
    }

    var everyKind: [(MembershipOp, encrypted: Bool)] {
        let history = [UInt8](repeating: 0x11, count: 24 + 16 + 48 * 2)
        return [
            (.genesis(name: "Ms Dlamini's laptop", encrypted: false, spaceSignature: signature, epoch: nil), false),
            (.genesis(name: "Ms Dlamini's laptop", encrypted: true, spaceSignature: signature, epoch: epoch([a])), true),
            (.invite(id: a, role: .reader, expires: 1_900_000_000_000, maxUses: 3), false),
            (.join(invite: a, name: "Amina's tablet \u{1F4DA}", inviteSignature: signature), false),
            (.setRole(target: b, role: .admin, boundary: 300), false),
            (.remove(target: b, cutoff: 7, keep: [a, c].sorted(), epoch: nil), false),
            (.remove(target: b, cutoff: 7, keep: [], epoch: epoch([a, c], history: history)), true),
            (.revokeInvite(id: a, seen: [b, c].sorted()), false),
            (.rotate(epoch([a, b, c])), true),
            (.grant(keyID: try! EpochKeyID(bytes: [UInt8](repeating: 3, count: 16)), recipients: epoch([b]).recipients), true),
            (.successor(predecessor: c, cutoff: 1 << 40, name: "x", predecessorSignature: signature), false),
            (.setRole(target: b, role: try! RoleAssignment(named: "learner", base: .writer), boundary: 4), false),
            (.invite(id: a, role: try! RoleAssignment(named: "guest-2", base: .reader), expires: 1, maxUses: 0), true),
            (.setPolicy(seen: VersionVector([a: 3, c: 1]), form: .plaintext([1, 0, 0])), false),
            (.setPolicy(seen: VersionVector(), form: .clear), true),
            (.scopeKey(readers: ["learner", "reader"], epoch: epoch([a, b])), true),
            (.ack(held: VersionVector([a: 3, c: 1])), false),
            (.ack(held: VersionVector()), true),
            (.stale(target: b, lastSeen: 12, reason: .policy), true),
            (.checkpoint(stable: VersionVector([a: 2]), seen: VersionVector([a: 3, b: 1]), snapshot: nil), false),
            (
                .checkpoint(
                    stable: VersionVector(), seen: VersionVector([c: 1]), snapshot: try! Digest32(bytes: [UInt8](repeating: 9, count: 32))),
                true
            ),
            (
                .setPolicy(
                    seen: VersionVector([b: 9]),
                    form: .sealed(keyID: try! EpochKeyID(bytes: [UInt8](repeating: 4, count: 16)), blob: [7, 7])),
                true
            ),
        ]
    }

    /// The decoder's error code for `bytes`, or `nil` when they decode.
    func failure(_ bytes: [UInt8], encrypted: Bool = false) -> String? {
        do {
            _ = try MembershipOp(payload: bytes, encrypted: encrypted)
            return nil
        } catch {
            return "\(error.code)"
        }
    }

    @Test func everyKindRoundTrips() throws {
        #expect(Set(everyKind.map(\.0.kind)) == Set(MembershipOp.Kind.allCases))
        for (op, encrypted) in everyKind {
            let bytes = op.encoded()
            #expect(bytes[0] == 1 && bytes[1] == op.kind.rawValue)
            #expect(try MembershipOp(payload: bytes, encrypted: encrypted) == op, "\(op.kind)")
        }
    }

    @Test func theSetRoleLayoutIsAsSpecified() {
        let bytes = MembershipOp.setRole(target: b, role: .writer, boundary: 300).encoded()
        #expect(bytes == [0x01, 0x04] + b.bytes + [0x02, 0xAC, 0x02])
    }

    @Test func unknownVersionsAndKindsAreMalformed() {
        let good = MembershipOp.setRole(target: b, role: .writer, boundary: 3).encoded()
        #expect(failure([0x02] + good.dropFirst()) == "malformedBundle")
        #expect(failure([0x00] + good.dropFirst()) == "malformedBundle")
        for kind: UInt8 in [0x00, 0x0F, 0xFF] { #expect(failure([0x01, kind] + good.dropFirst(2)) == "malformedBundle") }
        #expect(failure([]) == "malformedBundle" && failure([0x01]) == "malformedBundle")
    }

    @Test func trailingBytesAndEveryTruncationAreMalformed() {
        for (op, encrypted) in everyKind {
            let bytes = op.encoded()
            #expect(failure(bytes + [0], encrypted: encrypted) == "malformedBundle", "\(op.kind)")
            for length in 0..<bytes.count { #expect(failure(Array(bytes.prefix(length)), encrypted: encrypted) == "malformedBundle") }
        }
    }

    @Test func namesAreOneTo64BytesWithoutControlCharacters() {
        func join(_ name: String) -> [UInt8] { MembershipOp.join(invite: a, name: name, inviteSignature: signature).encoded() }
        #expect(failure(join(String(repeating: "é", count: 32))) == nil)  // 64 bytes
        #expect(failure(join(String(repeating: "é", count: 32) + "x")) == "malformedBundle")  // 65
        #expect(failure(join("")) == "malformedBundle")
        for bad in ["tab\there", "new\nline", "nul\u{0}", "del\u{7F}", "c1\u{85}", "c1\u{9F}"] {
            #expect(failure(join(bad)) == "malformedBundle", "\(Array(bad.unicodeScalars))")
        }
        #expect(failure(join("ok\u{A0}space")) == nil)  // U+00A0 is not a control character
        // Invalid UTF-8: a lone continuation byte.
        var raw = [0x01, 0x03] + a.bytes + [0x02, 0x61, 0x80] + signature.bytes
        #expect(failure(raw) == "malformedBundle")
        raw[36] = 0x62
        #expect(failure(raw) == nil)
    }

    @Test func roleBytesOtherThanOneToThreeAreMalformed() {
        let bytes = MembershipOp.invite(id: a, role: .admin, expires: 1, maxUses: 0).encoded()
        for role: UInt8 in [0, 4, 0xFF] {
            var bad = bytes
            bad[34] = role
            #expect(failure(bad) == "malformedBundle")
        }
    }

    @Test func positionsOfZeroAreMalformed() {
        #expect(failure([0x01, 0x04] + b.bytes + [0x02, 0x00]) == "malformedBundle")  // set-role boundary 0
        #expect(failure([0x01, 0x05] + b.bytes + [0x00, 0x00]) == "malformedBundle")  // remove cut-off 0
        #expect(failure([0x01, 0x05] + b.bytes + [0x01, 0x00]) == nil)
        #expect(failure([0x01, 0x09] + c.bytes + [0x00, 0x01, 0x78] + signature.bytes) == "malformedBundle")  // successor cut-off 0
    }

    @Test func countsAreCheckedAgainstTheBytesLeftBeforeAllocating() {
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        #expect(failure([0x01, 0x06] + a.bytes + huge) == "malformedBundle")  // seen
        #expect(failure([0x01, 0x05] + b.bytes + [0x01] + huge) == "malformedBundle")  // keep
        #expect(failure([0x01, 0x06] + a.bytes + [0x02] + b.bytes) == "malformedBundle")  // 2 announced, 1 there
        #expect(failure([0x01, 0x07] + [UInt8](repeating: 1, count: 16) + huge, encrypted: true) == "malformedBundle")
        #expect(
            failure([0x01, 0x08] + [UInt8](repeating: 1, count: 16) + [0x02] + a.bytes + [UInt8](repeating: 0, count: 80), encrypted: true)
                == "malformedBundle")
    }

    @Test func recipientCountsAreOneTo65536() {
        let keyID = [UInt8](repeating: 1, count: 16)
        #expect(failure([0x01, 0x07] + keyID + [0x00, 0x00], encrypted: true) == "malformedBundle")
        #expect(failure([0x01, 0x08] + keyID + [0x00]) == "malformedBundle")
        // 65,537 recipients, all bytes present: only the range check refuses them.
        var w = ByteWriter(capacity: 65_537 * 112 + 32)
        w.write(contentsOf: [0x01, 0x08] + keyID)
        w.writeVarint(65_537)
        for i in 0..<65_537 {
            var key = [UInt8](repeating: 0, count: 32)
            key[29] = UInt8(i >> 16)
            key[30] = UInt8(i >> 8 & 0xFF)
            key[31] = UInt8(i & 0xFF)
            w.write(contentsOf: key)
            w.write(contentsOf: [UInt8](repeating: 0, count: 80))
        }
        #expect(failure(w.bytes) == "malformedBundle")
    }

    @Test func listsMustBeStrictlyIncreasing() {
        let (low, high) = (min(a, b), max(a, b))
        #expect(failure([0x01, 0x06] + c.bytes + [0x02] + low.bytes + high.bytes) == nil)
        #expect(failure([0x01, 0x06] + c.bytes + [0x02] + high.bytes + low.bytes) == "malformedBundle")
        #expect(failure([0x01, 0x06] + c.bytes + [0x02] + low.bytes + low.bytes) == "malformedBundle")
        #expect(failure([0x01, 0x05] + c.bytes + [0x01, 0x02] + high.bytes + low.bytes) == "malformedBundle")
        let box = [UInt8](repeating: 0, count: 80)
        let keyID = [UInt8](repeating: 1, count: 16)
        #expect(failure([0x01, 0x08] + keyID + [0x02] + high.bytes + box + low.bytes + box) == "malformedBundle")
        #expect(failure([0x01, 0x07] + keyID + [0x02] + low.bytes + box + low.bytes + box + [0x00], encrypted: true) == "malformedBundle")
        #expect(failure([0x01, 0x07] + keyID + [0x02] + low.bytes + box + high.bytes + box + [0x00], encrypted: true) == nil)
    }

    @Test func theEpochFieldIsPresentExactlyInAnEncryptedSpace() {
        let plainRemove = MembershipOp.remove(target: b, cutoff: 2, keep: [], epoch: nil).encoded()
        let sealedRemove = MembershipOp.remove(target: b, cutoff: 2, keep: [], epoch: epoch([a])).encoded()
        #expect(failure(plainRemove, encrypted: false) == nil && failure(sealedRemove, encrypted: true) == nil)
        #expect(failure(sealedRemove, encrypted: false) == "malformedBundle")
        #expect(failure(plainRemove, encrypted: true) == "malformedBundle")
        #expect(failure(MembershipOp.rotate(epoch([a])).encoded(), encrypted: false) == "malformedBundle")
        // A genesis states its own flag; it must agree with the space's.
        let genesis = MembershipOp.genesis(name: "n", encrypted: true, spaceSignature: signature, epoch: epoch([a])).encoded()
        #expect(failure(genesis, encrypted: false) == "encryptionMismatch")
        var flags = MembershipOp.genesis(name: "n", encrypted: false, spaceSignature: signature, epoch: nil).encoded()
        flags[4] = 0x02
        #expect(failure(flags) == "malformedBundle")
    }

    @Test func historyBlobsAreEmptyOrWholeEntries() throws {
        for (count, valid) in [(0, true), (88, true), (136, true), (40, false), (87, false), (100, false)] {
            var w = ByteWriter()
            w.write(contentsOf: MembershipOp.rotate(epoch([a])).encoded().dropLast())
            w.writeLengthPrefixed([UInt8](repeating: 7, count: count))
            #expect((failure(w.bytes, encrypted: true) == nil) == valid, "history of \(count) bytes")
        }
        // The genesis epoch has no history.
        let genesis = MembershipOp.genesis(
            name: "n", encrypted: true, spaceSignature: signature, epoch: epoch([a], history: [UInt8](repeating: 1, count: 88)))
        #expect(failure(genesis.encoded(), encrypted: true) == "malformedBundle")
        #expect(throws: ConcordError.self) {
            try EpochField(keyID: EpochKeyID(bytes: [UInt8](repeating: 0, count: 16)), recipients: [], history: [])
        }
    }

    @Test func anEpochKeyIDIsTheFirst16BytesOfItsDomainSeparatedHash() throws {
        let raw = (0..<32).map { UInt8($0) }
        let key = try SymmetricKey(bytes: raw)
        let expected = Array(Blake2b.hash(Array("concord-epoch-id-v1".utf8) + raw).bytes.prefix(16))
        #expect(EpochKeyID(of: key).bytes == expected)
        #expect(EpochKeyID(of: key) != EpochKeyID(of: try SymmetricKey(bytes: raw.reversed())))
        #expect(EpochKeyID(of: key).hex.count == 32)
    }

    // MARK: - Signature statements

    @Test func statementsAreDomainSeparatedAndBindEveryField() {
        let space = identity(0xAA), device = identity(0x01), invite = identity(0x21), next = identity(0x06)
        let spaceID = SpaceID(publicKey: space.publicKey)
        func record(_ op: MembershipOp, by author: PublicKey, stamp: UInt64 = 9) -> MembershipOpRecord {
            MembershipOpRecord(op: op, author: author, position: 1, stamp: stamp, bundleID: .zero)
        }
        let genesis = MembershipStatement.genesis(space: space, author: device.publicKey, name: "a", stamp: 9, epoch: nil)
        let join = MembershipStatement.join(invite: invite, spaceID: spaceID, author: next.publicKey, name: "b")
        let successor = MembershipStatement.successor(predecessor: device, spaceID: spaceID, author: next.publicKey, cutoff: 4, name: "c")
        #expect(MembershipStatement.verifies(record(genesis, by: device.publicKey), spaceID: spaceID))
        #expect(MembershipStatement.verifies(record(join, by: next.publicKey), spaceID: spaceID))
        #expect(MembershipStatement.verifies(record(successor, by: next.publicKey), spaceID: spaceID))
        // Another stamp, author or space breaks them.
        #expect(!MembershipStatement.verifies(record(genesis, by: device.publicKey, stamp: 10), spaceID: spaceID))
        #expect(!MembershipStatement.verifies(record(join, by: device.publicKey), spaceID: spaceID))
        #expect(!MembershipStatement.verifies(record(successor, by: next.publicKey), spaceID: SpaceID(publicKey: device.publicKey)))
        // A successor signature does not verify as a join by the same key over the same fields.
        guard case let .successor(_, _, _, sig) = successor else { return }
        let confused = MembershipOp.join(invite: device.publicKey, name: "c", inviteSignature: sig)
        #expect(!MembershipStatement.verifies(record(confused, by: next.publicKey), spaceID: spaceID))
        let bytes = MembershipStatement.joinBytes(spaceID: spaceID, author: next.publicKey, invite: invite.publicKey, name: "b")
        #expect(Array(bytes.prefix(16)) == Array("concord-join-v1".utf8) + [0])
        #expect(bytes.count == 16 + 32 + 32 + 32 + 2)
    }
}

/// Named roles and `set-policy` (`Specs/permissions.md` §3.1 and §3.2).
@Suite struct MembershipPolicyCodecTests {
    let a = identity(0x01).publicKey, b = identity(0x02).publicKey

    func failure(_ bytes: [UInt8], encrypted: Bool = false) -> String? {
        do {
            _ = try MembershipOp(payload: bytes, encrypted: encrypted)
            return nil
        } catch {
            return "\(error.code)"
        }
    }

    @Test func aNamedRoleIsFourThenItsBaseThenItsName() throws {
        let role = try RoleAssignment(named: "learner", base: .writer)
        let bytes = MembershipOp.setRole(target: b, role: role, boundary: 3).encoded()
        #expect(bytes == [0x01, 0x04] + b.bytes + [0x04, 0x02, 0x07] + Array("learner".utf8) + [0x03])
        func named(_ base: UInt8, _ name: String) -> [UInt8] {
            [0x01, 0x04] + b.bytes + [0x04, base, UInt8(name.utf8.count)] + Array(name.utf8) + [3]
        }
        #expect(failure(named(0x03, "guest")) == nil)
        for base: UInt8 in [0x00, 0x01, 0x04, 0x05] { #expect(failure(named(base, "learner")) == "malformedBundle") }
        for name in ["", "writer", "reader", "admin", "Learner", "9lives", "a.b", "é", String(repeating: "a", count: 33)] {
            #expect(failure(named(0x02, name)) == "malformedBundle", "\(name)")
        }
        #expect(failure(named(0x02, String(repeating: "a", count: 32))) == nil)
    }

    @Test func aScopeKeyNamesOneTo34SortedRoleRefsInAnEncryptedSpace() {
        let field = try! EpochField(
            keyID: EpochKeyID(bytes: [UInt8](repeating: 0xE0, count: 16)),
            recipients: [.init(key: a, sealed: [UInt8](repeating: 0x5E, count: 80))])
        func op(_ readers: [String]) -> [UInt8] { MembershipOp.scopeKey(readers: readers, epoch: field).encoded() }
        #expect(failure(op(["teacher"]), encrypted: true) == nil)
        #expect(failure(op(["teacher"]), encrypted: false) == "malformedBundle")
        let roles = (0..<32).map { "r\($0 + 10)" }
        #expect(failure(op(roles + ["reader", "writer"]), encrypted: true) == nil)
        for bad in [[], roles + ["reader", "writer", "x"], ["teacher", "learner"], ["a", "a"], ["admin"], ["Teacher"], [""]] {
            #expect(failure(op(bad), encrypted: true) == "malformedBundle", "\(bad)")
        }
    }

    @Test func setPolicyFormsMatchTheSpaceAndStayWithinTheirLimits() {
        let seen = VersionVector([a: 2])
        let keyID = try! EpochKeyID(bytes: [UInt8](repeating: 9, count: 16))
        func op(_ form: MembershipOp.PolicyForm) -> [UInt8] { MembershipOp.setPolicy(seen: seen, form: form).encoded() }
        #expect(failure(op(.plaintext([1])), encrypted: true) == "malformedBundle")
        #expect(failure(op(.sealed(keyID: keyID, blob: [1])), encrypted: false) == "malformedBundle")
        #expect(failure(op(.plaintext([UInt8](repeating: 0, count: Policy.maxBodyBytes)))) == nil)
        #expect(failure(op(.plaintext([UInt8](repeating: 0, count: Policy.maxBodyBytes + 1)))) == "malformedBundle")
        #expect(
            failure(op(.sealed(keyID: keyID, blob: [UInt8](repeating: 0, count: MembershipOp.maxSealedPolicyBytes))), encrypted: true)
                == nil)
        #expect(
            failure(op(.sealed(keyID: keyID, blob: [UInt8](repeating: 0, count: MembershipOp.maxSealedPolicyBytes + 1))), encrypted: true)
                == "malformedBundle")
        for form: UInt8 in [3, 0xFF] { #expect(failure(Array(op(.clear).dropLast()) + [form]) == "malformedBundle") }
        let (low, high) = (min(a, b), max(a, b))
        #expect(failure([0x01, 0x0D, 0x02] + low.bytes + [1] + high.bytes + [1, 0]) == nil)
        #expect(failure([0x01, 0x0D, 0x02] + high.bytes + [1] + low.bytes + [1, 0]) == "malformedBundle")
        #expect(failure([0x01, 0x0D, 0x02] + low.bytes + [1] + low.bytes + [1, 0]) == "malformedBundle")
        #expect(failure([0x01, 0x0D, 0x01] + low.bytes + [0, 0]) == "malformedBundle")
        #expect(failure([0x01, 0x0D, 0x03] + low.bytes + [1, 0]) == "malformedBundle")
    }
}
