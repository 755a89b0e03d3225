import Concord
import ConcordCore
import ConcordCrypto
import Foundation
import Testing

/// `Specs/vectors/member_bundles.jsonl` (`Specs/wire-format.md` §7.11): every format-3 bundle
/// verifies as the case says for a space of the given format (the relay's check: structure,
/// space, format, signature, drift); a valid one has every header field the case gives, its
/// control op has the given kind, and its payload (decrypted under the given epoch key) is
/// the given plaintext.
@Suite struct MemberBundleVectorTests {
    @Test func everyMemberBundleVectorConforms() throws {
        let cases = try VectorConformanceTests.load("member_bundles.jsonl")
        #expect(Set(cases.map(\.name)).count == cases.count, "case names must be unique")
        #expect(cases.filter { $0.expected == "valid" }.count >= 4)
        #expect(
            Set(cases.map(\.expected)).isSuperset(of: [
                "valid", "malformedBundle", "unsupportedVersion", "invalidSignature", "wrongSpace", "clockDriftExceeded",
            ]))
        let passed = VectorConformanceTests.checkEach(cases, "member bundle", check)
        print("member bundle conformance: \(passed) of \(cases.count) vectors passed")
    }

    func check(_ v: Vector) throws {
        let space = try SpaceID(bytes: v.bytes("space_id_hex"))
        guard let format = v.json["space_format"] as? Int, let now = v.json["now_ms"] as? Int, let drift = v.json["max_drift_ms"] as? Int
        else {
            throw Mismatch(message: "\(v.name): missing numbers")
        }
        let verifier = BundleVerifier(
            spaceID: space, maxDrift: UInt64(drift), physicalClock: FixedClock(milliseconds: UInt64(now)), format: UInt8(format))
        let bundle: ChangeBundle
        do {
            bundle = try verifier.verify(try v.bytes("bundle_hex"))
        } catch let error as ConcordError {
            guard v.expected == error.code.description else {
                throw Mismatch(message: "rejected with \(error.code): \(error.message), expected \(v.expected)")
            }
            return
        }
        guard v.expected == "valid" else { throw Mismatch(message: "accepted, expected \(v.expected)") }
        func same(_ field: String, _ got: Any, _ want: Any?) throws {
            guard "\(got)" == "\(want ?? "nil")" else { throw Mismatch(message: "\(field) is \(got), the vector says \(want ?? "nil")") }
        }
        try same("format", bundle.format, 3)
        try same("is_control", bundle.isControl, (v.json["is_control"] as? Bool).map(String.init(describing:)))
        try same("is_encrypted", bundle.isEncrypted, (v.json["is_encrypted"] as? Bool).map(String.init(describing:)))
        try same("author", hex(bundle.author.bytes), v.json["author_hex"])
        try same("sequence", bundle.sequence, v.json["sequence"])
        try same("previous", hex(bundle.previous.bytes), v.json["previous_hex"])
        try same("hlc_min", bundle.hlcRange.lowerBound.rawValue, v.json["hlc_min"])
        try same("hlc_max", bundle.hlcRange.upperBound.rawValue, v.json["hlc_max"])
        try same("bundle_id", hex(bundle.id.bytes), v.json["bundle_id_hex"])
        try same("key_id", bundle.keyID.map { hex($0.bytes) } ?? "nil", v.json["key_id_hex"])
        if bundle.isControl {
            try same("payload", hex(Array(bundle.payload)), v.json["payload_hex"])
            try same("op_kind", try bundle.controlOp(encrypted: false).kind.description, v.json["op_kind"])
        } else {
            let key = try v.json["epoch_key_hex"] == nil ? nil : SymmetricKey(bytes: v.bytes("epoch_key_hex"))
            do {
                let contents = try ChangeBundle.openData(bundle, key: key)
                var plaintext = ByteWriter()
                contents.context.encodeContext(into: &plaintext)
                plaintext.write(contentsOf: OperationCodec.encode(contents.operations))
                try same("open", "valid", v.json["open_expected"] ?? "valid")
                try same("plaintext", hex(plaintext.bytes), v.json["plaintext_hex"])
            } catch let error as ConcordError {
                try same("open", error.code.description, v.json["open_expected"] ?? "valid")
            }
            try checkSections(bundle, v)
        }
    }

    /// `Specs/permissions.md` §7.3: the sections' key ids and lengths, and each section whose
    /// scope key the case gives opens to `batch_hex` or is broken with `expected`.
    func checkSections(_ bundle: ChangeBundle, _ v: Vector) throws {
        let wanted = v.json["sections"] as? [[String: Any]] ?? []
        guard wanted.count == bundle.sections.count else {
            throw Mismatch(message: "\(bundle.sections.count) sections, the vector says \(wanted.count)")
        }
        guard bundle.isSectioned == !wanted.isEmpty else { throw Mismatch(message: "sectioned is \(bundle.isSectioned)") }
        for (section, want) in zip(bundle.sections, wanted) {
            guard hex(section.keyID.bytes) == want["key_id_hex"] as? String, section.length == want["length"] as? Int else {
                throw Mismatch(message: "section \(section.number): key \(section.keyID.hex), \(section.length) bytes")
            }
            guard let keyHex = want["scope_key_hex"] as? String else { continue }
            let keyBytes = stride(from: 0, to: keyHex.count, by: 2).compactMap { i in
                UInt8(keyHex.dropFirst(i).prefix(2), radix: 16)
            }
            let key = try SymmetricKey(bytes: keyBytes)
            var got = "valid"
            var batch = ""
            do {
                batch = hex(OperationCodec.encode(try ChangeBundle.openSection(section, of: bundle, key: key)))
            } catch let error as ConcordError { got = error.code.description }
            guard got == want["expected"] as? String, got != "valid" || batch == want["batch_hex"] as? String else {
                throw Mismatch(message: "section \(section.number) opened as \(got), the vector says \(want["expected"] ?? "nil")")
            }
        }
    }
}
