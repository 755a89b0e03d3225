import Concord
import ConcordCore
import ConcordCrypto
import Foundation
import Testing

/// Every `membership-*.bin` in Tests/Fixtures/regressions goes through what
/// Fuzz/MembershipFuzzer.swift runs: the control payload decoder in an unencrypted and an
/// encrypted space, the format-2 token decoders (bytes and text) and the history blob under
/// the fuzzer's fixed key. Each must decode canonically or fail with a documented code.
@Suite struct MembershipRegressionTests {
    @Test func membershipRegressionFixturesDecodeOrFailWithADocumentedCode() throws {
        let files = try MutationTests.fixtures("membership-")
        #expect(!files.isEmpty, "Tests/Fixtures/regressions has no membership-*.bin fixtures")
        let historyKey = EpochKey(key: try SymmetricKey(bytes: [UInt8](repeating: 0x71, count: 32)))
        let tokenCodes: [ConcordError.Code] = [.invalidInvite, .inviteChecksumMismatch, .unsupportedVersion]
        for name in files {
            let bytes = [UInt8](try Data(contentsOf: MutationTests.regressions.appendingPathComponent(name)))
            for encrypted in [false, true] {
                do {
                    let op = try MembershipOp(payload: bytes, encrypted: encrypted)
                    #expect(op.encoded() == bytes, "\(name): not canonical")
                } catch {
                    #expect([.malformedBundle, .encryptionMismatch].contains(error.code), "\(name): \(error)")
                }
            }
            do {
                let token = try MemberInviteToken.decode(bytes)
                #expect(token.encoded() == bytes, "\(name): token not canonical")
            } catch {
                #expect(tokenCodes.contains(error.code), "\(name): \(error)")
            }
            do {
                _ = try MemberInviteToken(String(decoding: bytes, as: UTF8.self))
            } catch {
                #expect(tokenCodes.contains(error.code), "\(name): \(error)")
            }
            do {
                _ = try EpochField.openHistoryBlob(bytes, with: historyKey)
            } catch {
                #expect([.malformedBundle, .decryptionFailed].contains(error.code), "\(name): \(error)")
            }
        }
        print("membership regressions: \(files.count) fixture files replayed")
    }
}
