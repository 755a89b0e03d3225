import ConcordCore
import ConcordCrypto
// libFuzzer target for the change-bundle decoder, verifier and importer
// (`Specs/wire-format.md`, section 7). Built by Fuzz/run.sh: ConcordCore, ConcordCrypto and
// Concord are compiled as modules with `-sanitize=fuzzer,address -enable-testing`, then this
// file and BundleFuzzWorld.swift are linked against them.
//
// Every input is
// 1. decoded with `ChangeBundle(bytes:)`;
// 2. imported as received into each space's fresh and prepared receiver (BundleFuzzWorld);
// 3. when its author field names a device of the world, signed again by that device (an
//    insider) and imported the same way, so what lies behind the signature check (payload
//    decoding, decryption, the op checks, chain position, holding and releasing) is reached
//    by mutated input too.
//
// Invariants (a violation traps, and libFuzzer keeps the input as a crash):
// - nothing crashes, hangs or allocates beyond what the input justifies (ASan, -timeout);
// - decoding fails only with a documented ConcordError code; what decodes is canonical: the
//   header re-encodes to the same bytes and the signature is exactly the last 64 bytes;
// - a rejection has a documented code and leaves replica (state and clock) and log unchanged;
// - any other outcome is for bytes that decode, carry a valid signature of their author and
//   a valid certificate chain of the importer's space naming the author, both checked here
//   with libsodium directly (libFuzzer cannot sign: anything else is an accepted forgery);
// - duplicate, held and fork leave the replica unchanged;
// - applied: only writers' bundles; the ids start with the input's; the log grew by exactly those
//   bundles; the state digest equals the receiver's state plus the decoded ops of every
//   applied bundle that is not void (decrypted and read past a rule-abiding causal context here
//   independently), each stamped by its author and spanning exactly the header's clock range.
//
// CONCORD_FUZZ_WRITE_CORPUS=<dir> writes the world's valid bundles to <dir> and exits
// (Fuzz/run.sh seeds the corpus with them).
import Foundation

@testable import ConcordProtocol

@_cdecl("LLVMFuzzerInitialize")
public func fuzzBundleInitialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    let world = FuzzWorld.shared
    if let directory = ProcessInfo.processInfo.environment["CONCORD_FUZZ_WRITE_CORPUS"] {
        for space in world.spaces {
            for (name, bundle) in space.bundles {
                let url = URL(fileURLWithPath: directory).appendingPathComponent("seed-\(name)")
                try! Data(bundle.bytes).write(to: url)
            }
        }
        // Format-3 bundles (Specs/wire-format.md §7.11): a genesis and an encrypted data bundle,
        // so mutations reach the format-3 header decoder from the start.
        for (name, bundle) in FuzzWorld.memberFormatSeeds() {
            try! Data(bundle.bytes).write(to: URL(fileURLWithPath: directory).appendingPathComponent("seed-\(name)"))
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBundle(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    BundleFuzzCheck.run(bytes, in: FuzzWorld.shared)
    return 0
}

enum BundleFuzzCheck {
    /// The codes `ChangeBundle(bytes:)` documents.
    static let decodeErrors: [ConcordError.Code] = [.bundleTooLarge, .malformedBundle, .unsupportedVersion, .invalidCertificate]
    /// The codes `BundleImporter` documents.
    static let importErrors: [ConcordError.Code] =
        decodeErrors + [
            .wrongSpace, .invalidSignature, .notAWriter, .authorMismatch, .clockDriftExceeded, .clockFailure,
            .decryptionFailed, .encryptionMismatch, .emptyBundle, .tooManyHeldBundles,
        ]

    static func run(_ bytes: [UInt8], in world: FuzzWorld) {
        var inputs = [bytes]
        checkDecoding(bytes)
        if let resigned = resign(bytes, in: world) {
            checkDecoding(resigned)
            inputs.append(resigned)
        }
        for input in inputs {
            for space in world.spaces {
                checkImport(input, into: space.fresh, of: space, in: world)
                checkImport(input, into: space.prepared, of: space, in: world)
            }
        }
    }

    /// The input with its last 64 bytes replaced by the signature of the device its author
    /// field (bytes 38..<70) names over everything before them; `nil` if there is no such
    /// device or nothing changes.
    static func resign(_ bytes: [UInt8], in world: FuzzWorld) -> [UInt8]? {
        guard bytes.count >= 70 + Signature.byteCount, let author = try? PublicKey(bytes: bytes[38..<70]),
            let device = world.devices[author]
        else { return nil }
        let signed = Array(bytes.dropLast(Signature.byteCount))
        let resigned = signed + device.sign(signed).bytes
        return resigned == bytes ? nil : resigned
    }

    static func checkDecoding(_ bytes: [UInt8]) {
        let bundle: ChangeBundle
        do {
            bundle = try ChangeBundle(bytes: bytes)
        } catch let error as ConcordError {
            require(decodeErrors.contains(error.code), "decoding failed with an undocumented code: \(error)")
            return
        } catch {
            fatalError("decoding failed with an untyped error: \(error)")
        }
        // Format 2 carries a certificate chain, format 3 a control flag and a key id instead.
        let header: [UInt8]
        if let certificates = bundle.certificates {
            require(bundle.format == ChangeBundle.formatVersion && !bundle.isControl && bundle.keyID == nil, "a format-2 bundle with format-3 fields")
            header = ChangeBundle.encodeHeader(
                isEncrypted: bundle.isEncrypted, spaceID: bundle.spaceID, author: bundle.author, sequence: bundle.sequence,
                previous: bundle.previous, hlcRange: bundle.hlcRange, certificates: certificates)
        } else {
            require(bundle.format == ChangeBundle.memberFormatVersion, "a bundle without a certificate chain that is not format 3")
            require((bundle.keyID != nil) == bundle.isEncrypted && !(bundle.isControl && bundle.isEncrypted), "format-3 flags and key id disagree")
            header = ChangeBundle.encodeMemberHeader(
                isControl: bundle.isControl, keyID: bundle.keyID, spaceID: bundle.spaceID, author: bundle.author, sequence: bundle.sequence,
                previous: bundle.previous, hlcRange: bundle.hlcRange)
        }
        var length = ByteWriter()
        length.writeVarint(UInt64(bundle.payload.count))
        require(bundle.bytes == bytes, "the decoded bundle holds other bytes than the input")
        require(header == Array(bundle.header), "the header does not re-encode to the bytes it was decoded from")
        require(bundle.header.count + length.bytes.count == bundle.payloadRange.lowerBound, "the payload length is not canonical")
        require(bundle.payloadRange.upperBound == bytes.count - Signature.byteCount, "bytes between payload and signature")
        require(bundle.signature.bytes == Array(bytes.suffix(Signature.byteCount)), "the signature is not the last 64 bytes")
        require(
            bundle.id == BundleID(digest: Blake2b.hash(bytes.dropLast(Signature.byteCount))), "the id is not the hash of the signed bytes")
    }

    static func checkImport(_ bytes: [UInt8], into start: FuzzReceiver, of space: FuzzSpace, in world: FuzzWorld) {
        var receiver = start
        let outcome = space.importer.importBundle(bytes, into: &receiver.replica, log: &receiver.log)
        let replicaUnchanged = receiver.replica.state == start.replica.state && receiver.replica.clock.last == start.replica.clock.last
        if case .rejected(let error) = outcome {
            require(importErrors.contains(error.code) && !error.message.contains("unexpected failure"), "undocumented rejection: \(error)")
            require(replicaUnchanged && receiver.log == start.log, "rejected with \(error.code), but the replica or log changed")
            return
        }
        guard let bundle = try? ChangeBundle(bytes: bytes) else { fatalError("\(outcome) for bytes that do not decode") }
        require(isSignedByAMember(bundle, of: space), "accepted forgery: \(outcome) for \(bundle)")
        guard case .applied(let ids) = outcome else {
            require(replicaUnchanged, "\(outcome) changed the replica")
            return
        }
        require(bundle.certificates?.role == .writer, "applied a bundle of a device that is not a writer (or without a certificate chain)")
        require(ids.first == bundle.id, "applied \(ids), not starting with \(bundle.id)")
        require(receiver.log.bundles.map(\.id) == start.log.bundles.map(\.id) + ids, "the log did not grow by exactly the applied bundles")
        var expected = start.replica.state
        for id in ids {
            let applied = receiver.log.bundles.first { $0.id == id }!
            // A void bundle (wire-format §7.7 step 11: a member's signed payload nobody can
            // use) takes its chain place and applies nothing.
            if receiver.log.voided.contains(where: { $0.id == id }) { continue }
            let ops = decodeOperations(of: applied, in: space)
            let readings = ops.map(\.stamp.hlc)
            require(
                !ops.isEmpty && ops.allSatisfy { $0.stamp.replica.bytes == applied.author.bytes }, "applied ops not stamped by their author"
            )
            require(readings.min()!...readings.max()! == applied.hlcRange, "applied ops outside the header's clock range")
            expected.apply(contentsOf: ops)
        }
        require(expected.digest == receiver.replica.state.digest, "the state after applying is not the state plus the decoded ops")
    }

    /// Checked here with libsodium directly, not through `BundleVerifier` (the code under
    /// test): the author's signature over the signed bytes, and a certificate chain of the
    /// importer's space, issued by the space key (and a reader issuer for readers), whose
    /// leaf names the author.
    static func isSignedByAMember(_ bundle: ChangeBundle, of space: FuzzSpace) -> Bool {
        // The world's spaces are format 2: a bundle without a chain is never a member's there.
        guard let chain = bundle.certificates?.certificates else { return false }
        var issuer = space.space.id.publicKey
        for (index, certificate) in chain.enumerated() {
            guard certificate.spaceID == space.space.id, issuer.isValidSignature(certificate.signature, for: certificate.signedBytes) else {
                return false
            }
            if chain.count == 2, certificate.role != (index == 0 ? .readerIssuer : .reader) { return false }
            issuer = certificate.subject
        }
        return bundle.spaceID == space.space.id && chain.last!.subject == bundle.author
            && bundle.author.isValidSignature(bundle.signature, for: bundle.signedBytes)
    }

    /// The bundle's operations, decrypted here with the space's content key and read past
    /// the causal context (not through `Membership.contents(of:)`, the code under test). The
    /// context must keep every rule of section 7.5: at most 4096 authors, strictly
    /// ascending, never the bundle's author, sequences at least 1.
    static func decodeOperations(of bundle: ChangeBundle, in space: FuzzSpace) -> [RecordOperation] {
        var plaintext = Array(bundle.payload)
        if let key = space.space.contentKey {
            let box = try! XChaCha20Poly1305.SealedBox(combined: plaintext)
            plaintext = try! XChaCha20Poly1305.open(box, using: key, authenticating: bundle.header)
        }
        var reader = ByteReader(plaintext)
        let count = try! reader.readVarint()
        require(count <= 4096, "applied a bundle whose causal context names \(count) authors")
        var previous: [UInt8] = []
        for _ in 0..<count {
            let author = Array(try! reader.readBytes(32))
            require(previous.lexicographicallyPrecedes(author), "applied a bundle whose causal context is not strictly ascending")
            require(author != bundle.author.bytes, "applied a bundle whose causal context names its author")
            require(try! reader.readVarint() >= 1, "applied a bundle whose causal context has sequence 0")
            previous = author
        }
        return try! OperationCodec.decode(Array(plaintext[reader.offset...]))
    }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("bundle fuzz invariant: \(message())") }
    }
}
