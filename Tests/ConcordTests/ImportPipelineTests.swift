import ConcordCore
import ConcordCrypto
import Testing

@testable import Concord
@testable import ConcordProtocol

@Suite struct ImportPipelineTests {
    let time = ManualClock(milliseconds: t0)

    /// Alice creates a space, Bob joins with a writer invite; both on `time`.
    func pair(encrypted: Bool = true) throws -> (Device, Device) {
        let alice = writer(1, of: space(5, encrypted: encrypted))
        let bob = try Membership.join(InviteToken(alice.writerInvite().text), device: identity(2), issuedAt: t0)
        return (Device(alice, time: time), Device(bob, time: time))
    }

    @Test(arguments: [true, false])
    func twoWritersSyncAndConverge(encrypted: Bool) throws {
        var (alice, bob) = try pair(encrypted: encrypted)
        _ = try alice.seal([alice.set("title", "Buy milk"), alice.replica.add("errand", to: "tags", record: todo, in: "todos")])
        time.advance(by: 5)
        _ = try bob.seal([bob.set("title", "Buy bread"), bob.set("done", false, record: other)])
        time.advance(by: 5)
        _ = try alice.seal([alice.set("title", "Buy oat milk")])

        #expect(bob.pull(from: alice).map(\.appliedIDs.count) == [1, 1])
        #expect(alice.pull(from: bob).map(\.appliedIDs.count) == [1])
        _ = try bob.seal([bob.replica.remove("errand", from: "tags", record: todo, in: "todos")])
        #expect(alice.pull(from: bob).count == 1)
        #expect(bob.pull(from: alice).isEmpty)

        #expect(alice.replica.state == bob.replica.state)
        #expect(alice.replica.state.digest == bob.replica.state.digest)
        #expect(alice.log.versionVector == bob.log.versionVector)
        #expect(alice.log.versionVector[alice.key] == 2 && alice.log.versionVector[bob.key] == 2)
        #expect(alice.replica.state.record(todo, in: "todos")?["title"] == "Buy oat milk")
        // Bob's clock observed Alice's readings.
        #expect(bob.replica.clock.last >= alice.log.latestBundle(of: alice.key)!.hlcRange.upperBound)
    }

    @Test func outOfOrderBundlesAreHeldThenReleasedInOrder() throws {
        var (alice, bob) = try pair()
        let bundles = try (1...4).map { i in try alice.seal([alice.set("n", .int(Int64(i)))]) }
        #expect(bob.receive(bundles[3]) == .held(waitingFor: 1))
        #expect(bob.receive(bundles[1]) == .held(waitingFor: 1))
        #expect(bob.log.heldCount == 2 && bob.log.versionVector[alice.key] == 0)
        #expect(bob.replica.state.recordCount == 0)
        #expect(bob.receive(bundles[1]) == .duplicate(bundles[1].id))
        #expect(bob.receive(bundles[0]) == .applied([bundles[0].id, bundles[1].id]))
        #expect(bob.log.versionVector[alice.key] == 2 && bob.log.heldCount == 1)
        #expect(bob.receive(bundles[2]) == .applied([bundles[2].id, bundles[3].id]))
        #expect(bob.log.heldCount == 0)
        #expect(bob.replica.state == alice.replica.state)
        #expect(bob.log.bundles.map(\.id) == bundles.map(\.id))
    }

    @Test func duplicatesChangeNothing() throws {
        var (alice, bob) = try pair()
        let bundle = try alice.seal([alice.set("title", "x")])
        #expect(bob.receive(bundle) == .applied([bundle.id]))
        let before = bob.snapshot
        #expect(bob.receive(bundle) == .duplicate(bundle.id))
        #expect(bob.snapshot == before)
        // The author's own log already holds it.
        #expect(alice.receive(bundle) == .duplicate(bundle.id))
    }

    @Test func forksAreQuarantinedNeverMerged() throws {
        var (alice, bob) = try pair()
        let original = try alice.membership.seal([alice.set("title", "a")], previous: nil)
        let forked = try alice.membership.seal([alice.set("title", "evil")], previous: nil)
        #expect(bob.receive(original) == .applied([original.id]))
        let state = bob.replica.state
        #expect(bob.receive(forked) == .fork(author: alice.key, sequence: 1))
        #expect(bob.replica.state == state)
        #expect(bob.log.quarantined == [forked])
        #expect(bob.receive(forked) == .duplicate(forked.id))

        // A second bundle 2 that links to the forked bundle 1.
        let onFork = try alice.membership.seal([alice.set("title", "evil 2")], previous: forked)
        #expect(bob.receive(onFork) == .fork(author: alice.key, sequence: 2))
        #expect(bob.replica.state == state)

        // Two different bundles 3 while 2 is missing: the second is a fork.
        let two = try alice.membership.seal([alice.set("n", 2)], previous: original)
        let three = try alice.membership.seal([alice.set("n", 3)], previous: two)
        let otherThree = try alice.membership.seal([alice.set("n", 33)], previous: two)
        #expect(bob.receive(three) == .held(waitingFor: 2))
        #expect(bob.receive(otherThree) == .fork(author: alice.key, sequence: 3))
        #expect(bob.receive(two) == .applied([two.id, three.id]))
        #expect(bob.log.quarantined.count == 3)
    }

    @Test func aHeldBundleThatForksIsQuarantinedOnRelease() throws {
        var (alice, bob) = try pair()
        let one = try alice.membership.seal([alice.set("n", 1)], previous: nil)
        let strayOne = try alice.membership.seal([alice.set("n", 11)], previous: nil)
        let twoOnStray = try alice.membership.seal([alice.set("n", 2)], previous: strayOne)
        #expect(bob.receive(twoOnStray) == .held(waitingFor: 1))
        #expect(bob.receive(one) == .applied([one.id]))
        #expect(bob.log.quarantined == [twoOnStray] && bob.log.heldCount == 0)
        #expect(bob.log.versionVector[alice.key] == 1)
    }

    @Test func heldBundlesAreBounded() throws {
        var (alice, bob) = try pair()
        bob.limits.maxHeldBundles = 1
        let bundles = try (1...3).map { i in try alice.seal([alice.set("n", .int(Int64(i)))]) }
        #expect(bob.receive(bundles[1]) == .held(waitingFor: 1))
        expectRejected(.tooManyHeldBundles, bundles[2].bytes, by: &bob)
        #expect(bob.receive(bundles[0]).appliedIDs.count == 2)
    }

    @Test func everyAlteredByteIsRejectedAndChangesNothing() throws {
        var (alice, bob) = try pair()
        let bundle = try alice.seal([alice.set("title", "x"), alice.replica.add("t", to: "tags", record: todo, in: "todos")])
        let signatureStart = bundle.bytes.count - Signature.byteCount
        for offset in bundle.bytes.indices {
            var tampered = bundle.bytes
            tampered[offset] ^= 0x01
            let before = bob.snapshot
            let outcome = bob.receive(tampered)
            #expect(outcome.error != nil, "offset \(offset): \(outcome)")
            #expect(bob.snapshot == before, "offset \(offset)")
            if offset >= bundle.payloadRange.lowerBound {  // payload and signature: only the signature check can catch it
                #expect(outcome.error?.code == .invalidSignature, "offset \(offset): \(outcome)")
            }
        }
        #expect(signatureStart > bundle.headerEnd)
        #expect(bob.receive(bundle) == .applied([bundle.id]))
    }

    @Test func truncatedBundlesAreTypedRejections() throws {
        var (alice, bob) = try pair()
        let bytes = try alice.seal([alice.set("title", "x")]).bytes
        for length in 0..<bytes.count {
            expectRejected(.malformedBundle, Array(bytes.prefix(length)), by: &bob)
        }
        var strict = bob
        strict.limits.maxBundleBytes = bytes.count - 1
        expectRejected(.bundleTooLarge, bytes, by: &strict)
    }

    @Test func bundlesOfOtherSpacesAreRejected() throws {
        var (_, bob) = try pair()
        let stranger = writer(9, of: space(6))
        let foreign = try stranger.seal([op(.set(field: "title", value: "x"), by: stranger.replicaID, at: 0)], previous: nil)
        expectRejected(.wrongSpace, foreign.bytes, by: &bob)

        // A writer of another space claims this space in the header, with its own certificate.
        let claiming = try forge(
            ops: [op(.set(field: "title", value: "x"), by: stranger.replicaID, at: 0)], signer: stranger.device,
            certificates: stranger.certificates!, spaceID: bob.membership.spaceID, contentKey: bob.membership.contentKey)
        expectRejected(.invalidCertificate, claiming.bytes, by: &bob)
    }

    @Test func onlyWritersBundlesAreAccepted() throws {
        var (alice, bob) = try pair()
        let carol = try Membership.join(alice.membership.readerInvite(issuedAt: t0), device: identity(3), issuedAt: t0)
        let write = op(.set(field: "title", value: "sneaky"), by: carol.replicaID, at: 0)
        expectError(.notAWriter) { try carol.seal([write], previous: nil) }
        let readerBundle = try forge(
            ops: [write], signer: carol.device, certificates: carol.certificates!, spaceID: carol.spaceID, contentKey: carol.contentKey)
        let error = try #require(bob.receive(readerBundle).error)
        #expect(error.code == .notAWriter && error.message.contains("not a writer"))

        // The reader-issuer key from the invite, signing as itself.
        guard case let .reader(_, issuer, issuerCertificate) = try alice.membership.readerInvite(issuedAt: t0).secret else {
            Issue.record("not a reader invite"); return
        }
        let issuerWrite = op(.set(field: "title", value: "sneaky"), by: ReplicaID(bytes: issuer.publicKey.bytes)!, at: 0)
        let issuerBundle = try forge(
            ops: [issuerWrite], signer: issuer, certificates: CertificateChain([issuerCertificate]), spaceID: alice.membership.spaceID,
            contentKey: carol.contentKey)
        expectRejected(.notAWriter, issuerBundle.bytes, by: &bob)
    }

    @Test func authorsMustMatchCertificateAndOperations() throws {
        var (alice, bob) = try pair()
        let mallory = identity(66)
        let write = op(.set(field: "title", value: "x"), by: ReplicaID(bytes: mallory.publicKey.bytes)!, at: 0)
        // Mallory signs with Alice's certificate.
        let borrowed = try forge(
            ops: [write], signer: mallory, certificates: alice.membership.certificates!, spaceID: alice.membership.spaceID,
            contentKey: alice.membership.contentKey)
        let error = try #require(bob.receive(borrowed).error)
        #expect(error.code == .authorMismatch && error.message.contains("ask a member for a new invite"))
        // Alice signs an operation stamped by Bob: her signed payload breaks its own header's
        // promise the same way for every member, so it is void (wire-format §7.7, step 11).
        let smuggled = try forge(
            ops: [op(.set(field: "title", value: "x"), by: bob.membership.replicaID, at: 0)], signer: alice.membership.device,
            certificates: alice.membership.certificates!, spaceID: alice.membership.spaceID, contentKey: alice.membership.contentKey)
        expectVoid(.authorMismatch, smuggled.bytes, by: &bob)
        // The header's clock range must be exactly the operations' range.
        let mine = op(.set(field: "title", value: "x"), by: alice.membership.replicaID, at: 10)
        let widened = try forge(
            ops: [mine], signer: alice.membership.device, certificates: alice.membership.certificates!, spaceID: alice.membership.spaceID,
            hlcRange: HLCTimestamp(milliseconds: t0, counter: 0)...mine.stamp.hlc, contentKey: alice.membership.contentKey)
        var (_, fresh) = try pair()
        expectVoid(.malformedBundle, widened.bytes, by: &fresh)
        let empty = try forge(
            ops: [], signer: alice.membership.device, certificates: alice.membership.certificates!, spaceID: alice.membership.spaceID,
            contentKey: alice.membership.contentKey)
        (_, fresh) = try pair()
        expectVoid(.emptyBundle, empty.bytes, by: &fresh)
    }

    @Test func farFutureClockIsRejectedWithStateAndClockUnchanged() throws {
        var (alice, bob) = try pair()
        _ = try bob.seal([bob.set("title", "mine")])
        let aheadClock = ManualClock(milliseconds: t0 + 3_600_000)
        var future = Device(alice.membership, time: aheadClock)
        let bundle = try future.seal([future.set("title", "from the future")])
        let error = try #require(bob.receive(bundle).error)
        #expect(error.code == .clockDriftExceeded)
        expectRejected(.clockDriftExceeded, bundle.bytes, by: &bob)
        #expect(bob.replica.state.record(todo, in: "todos")?["title"] == "mine")
        // Once local time catches up, the same bundle is accepted.
        time.set(milliseconds: t0 + 3_600_000 - HybridLogicalClock.defaultMaxDrift)
        #expect(bob.receive(bundle) == .applied([bundle.id]))
    }

    @Test func encryptedPayloadsNeedTheContentKeyButRelaysCanVerify() throws {
        var (alice, bob) = try pair()
        let bundle = try alice.seal([alice.set("title", "Buy milk")])
        // A relay knows only the space id.
        let relay = BundleVerifier(spaceID: alice.membership.spaceID, physicalClock: time)
        let verified = try relay.verify(bundle.bytes)
        #expect(verified.id == bundle.id)
        #expect(throws: ConcordCoreError.self) { try OperationCodec.decode(Array(verified.payload)) }
        // A member holding a wrong content key cannot open it.
        let m = bob.membership
        let wrongKey = Membership(
            device: m.device, spaceID: m.spaceID, isEncrypted: true, certificates: m.certificates!, contentKey: SymmetricKey(), space: nil)
        var eve = Device(wrongKey, time: time)
        expectVoid(.decryptionFailed, bundle.bytes, by: &eve)
        #expect(bob.receive(bundle) == .applied([bundle.id]))
    }

    @Test func payloadBoundToItsHeaderAndEncryptionFlagChecked() throws {
        var (alice, bob) = try pair()
        let a = alice.membership
        let write = op(.set(field: "title", value: "x"), by: a.replicaID, at: 0)
        // Validly signed, but the payload was sealed under another key.
        // Every member fails to open it alike: void, not rejected (wire-format §7.7, step 11).
        let otherKey = try forge(
            ops: [write], signer: a.device, certificates: a.certificates!, spaceID: a.spaceID, contentKey: SymmetricKey())
        expectVoid(.decryptionFailed, otherKey.bytes, by: &bob)
        // Validly signed, but the payload says encrypted while the space is not (and vice versa).
        let plain = try forge(ops: [write], signer: a.device, certificates: a.certificates!, spaceID: a.spaceID, encryptedFlag: false)
        (_, bob) = try pair()
        expectVoid(.encryptionMismatch, plain.bytes, by: &bob)
        // An encrypted payload moved under another header does not open (associated data).
        let sealed = try alice.membership.seal([write], previous: nil)
        let moved = try ChangeBundle.assemble(
            header: ChangeBundle.encodeHeader(
                isEncrypted: true, spaceID: a.spaceID, author: a.device.publicKey, sequence: 1, previous: .zero,
                hlcRange: HLCTimestamp(rawValue: 1)...write.stamp.hlc, certificates: a.certificates!),
            payload: Array(sealed.payload), signer: a.device)
        (_, bob) = try pair()
        expectVoid(.decryptionFailed, moved.bytes, by: &bob)
    }

    @Test func exportReturnsWhatThePeerLacks() throws {
        var (alice, bob) = try pair()
        let a1 = try alice.seal([alice.set("n", 1)])
        let a2 = try alice.seal([alice.set("n", 2)])
        let b1 = try bob.seal([bob.set("m", 1)])
        #expect(alice.receive(b1) == .applied([b1.id]))
        #expect(alice.log.bundles(since: VersionVector()) == [a1, a2, b1])
        #expect(alice.log.bundles(since: bob.log.versionVector) == [a1, a2])
        #expect(alice.log.bundles(since: VersionVector([alice.key: 1])) == [a2, b1])
        #expect(alice.log.bundles(since: alice.log.versionVector).isEmpty)
        #expect(alice.log.versionVector.includes(bob.log.versionVector))
        #expect(!bob.log.versionVector.includes(alice.log.versionVector))
        #expect(alice.log.bundle(of: alice.key, sequence: 2) == a2 && alice.log.bundle(of: alice.key, sequence: 3) == nil)
    }

    /// Issue 12.5: a correctly signed bundle whose payload no member can open stalled its
    /// author's chain (and every member's sync) forever. It now enters the chain void.
    @Test(arguments: [true, false])
    func aBundleNoMemberCanOpenIsVoidAndTheChainGoesOn(encrypted: Bool) throws {
        var (alice, bob) = try pair(encrypted: encrypted)
        var (_, carol) = try pair(encrypted: encrypted)
        let a = alice.membership
        let b1 = try alice.seal([alice.set("title", "one")])
        // Bundle 2: signed by Alice, but its payload is garbage for every member (sealed
        // under another key, or a batch that does not decode).
        let bad = op(.set(field: "title", value: "lost"), by: a.replicaID, at: 50)
        let b2 =
            encrypted
            ? try forge(
                ops: [bad], signer: a.device, certificates: a.certificates!, spaceID: a.spaceID, sequence: 2, previous: b1.id,
                contentKey: SymmetricKey())
            : try forge(
                ops: [bad], signer: a.device, certificates: a.certificates!, spaceID: a.spaceID, sequence: 2, previous: b1.id,
                plaintext: [0, 1, 0xFF])
        time.advance(by: 100)
        let op3 = try alice.set("body", "three")
        let b3 = try a.seal([op3], previous: b2)
        // Bob receives 1, 3 (held), then 2: 2 is void and releases 3.
        #expect(bob.receive(b1) == .applied([b1.id]))
        #expect(bob.receive(b3) == .held(waitingFor: 2))
        let stateBefore = bob.replica.state
        #expect(bob.receive(b2) == .applied([b2.id, b3.id]))
        #expect(bob.log.versionVector[a.device.publicKey] == 3)
        #expect(bob.log.voided.map(\.id) == [b2.id])
        #expect(bob.log.voided.first?.reason.code == (encrypted ? .decryptionFailed : .malformedBundle))
        #expect(bob.replica.state.record(todo, in: "todos")?["title"] == "one", "nothing of the void bundle is applied")
        #expect(bob.replica.state.record(todo, in: "todos")?["body"] == "three")
        #expect(bob.replica.state != stateBefore)
        // Again: a duplicate, reported once only.
        #expect(bob.receive(b2) == .duplicate(b2.id))
        #expect(bob.log.voided.count == 1)
        // Carol, in chain order, decides the same: same chain, same state.
        for bundle in [b1, b2, b3] { _ = carol.receive(bundle) }
        #expect(carol.log.versionVector == bob.log.versionVector)
        #expect(carol.replica.state.digestHex == bob.replica.state.digestHex)
        // An operation batch of an unknown format is a newer Concord, not garbage: rejected
        // (an upgraded replica reads it), never void.
        if !encrypted {
            var (_, dave) = try pair(encrypted: false)
            let newer = try forge(ops: [], signer: a.device, certificates: a.certificates!, spaceID: a.spaceID, plaintext: [0, 9])
            expectRejected(.unsupportedVersion, newer.bytes, by: &dave)
        }
    }
}
