import Testing
import ConcordCore
import ConcordCrypto
@testable import Concord
@testable import ConcordProtocol

@Suite struct CertificateTests {
    let home = space(5)

    /// Known answer computed independently with PyNaCl.
    @Test func certificateBytesMatchIndependentEncoding() throws {
        let certificate = home.certify(identity(7).publicKey, as: .writer, issuedAt: t0)
        #expect(hex(certificate.bytes) == "016e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c010068e5cf8b010000c7500396b6cf1208d2423b2253eedba6ce89b0b35a903afdc1689fc337073f362807b0b818cec40bdaecbaca8350ac2b078e4555dadb34befe5428a2c76b9a0d")
        #expect(certificate.bytes.count == MembershipCertificate.byteCount)
        #expect(try MembershipCertificate(bytes: certificate.bytes) == certificate)
        let chain = CertificateChain([certificate])
        #expect(chain.bytes.count == 139)
        #expect(try CertificateChain(bytes: chain.bytes) == chain)
    }

    @Test func validChainsVerify() throws {
        try CertificateChain([home.certify(identity(7).publicKey, as: .writer, issuedAt: t0)]).verify(spaceID: home.id, now: t0, maxDrift: 0)
        let issuer = identity(8)
        let root = home.certify(issuer.publicKey, as: .readerIssuer, issuedAt: t0)
        let leaf = MembershipCertificate(subject: identity(9).publicKey, role: .reader, spaceID: home.id, issuedAt: t0, issuer: issuer)
        let chain = CertificateChain([root, leaf])
        try chain.verify(spaceID: home.id, now: t0, maxDrift: 0)
        #expect(chain.role == .reader && chain.subject == identity(9).publicKey)
        #expect(try CertificateChain(bytes: chain.bytes) == chain)
    }

    @Test func forgedOrForeignCertificatesAreRejected() throws {
        let device = identity(7).publicKey
        let elsewhere = space(6)
        // Issued by another space for that space.
        let foreign = CertificateChain([elsewhere.certify(device, as: .writer, issuedAt: t0)])
        expectError(.invalidCertificate) { try foreign.verify(spaceID: home.id, now: t0, maxDrift: 0) }
        // Claims this space but signed by another space's key.
        let forged = CertificateChain([MembershipCertificate(subject: device, role: .writer, spaceID: home.id, issuedAt: t0, issuer: elsewhere.key)])
        expectError(.invalidCertificate) { try forged.verify(spaceID: home.id, now: t0, maxDrift: 0) }
        // A flipped signature bit.
        var raw = home.certify(device, as: .writer, issuedAt: t0).bytes
        raw[100] ^= 1
        expectError(.invalidCertificate) { try CertificateChain([MembershipCertificate(bytes: raw)]).verify(spaceID: home.id, now: t0, maxDrift: 0) }
        // Role upgraded after signing.
        raw = home.certify(device, as: .reader, issuedAt: t0).bytes
        raw[65] = Role.writer.rawValue
        expectError(.invalidCertificate) { try CertificateChain([MembershipCertificate(bytes: raw)]).verify(spaceID: home.id, now: t0, maxDrift: 0) }
    }

    @Test func chainRulesAreEnforced() {
        let issuer = identity(8)
        let root = home.certify(issuer.publicKey, as: .readerIssuer, issuedAt: t0)
        // A reader issuer may not certify a writer.
        let writerLeaf = MembershipCertificate(subject: identity(9).publicKey, role: .writer, spaceID: home.id, issuedAt: t0, issuer: issuer)
        expectError(.invalidCertificate) { try CertificateChain([root, writerLeaf]).verify(spaceID: home.id, now: t0, maxDrift: 0) }
        // A writer's device key may not certify anyone.
        let writerRoot = home.certify(issuer.publicKey, as: .writer, issuedAt: t0)
        let readerLeaf = MembershipCertificate(subject: identity(9).publicKey, role: .reader, spaceID: home.id, issuedAt: t0, issuer: issuer)
        expectError(.invalidCertificate) { try CertificateChain([writerRoot, readerLeaf]).verify(spaceID: home.id, now: t0, maxDrift: 0) }
        // The leaf must be signed by the root's subject.
        let strayLeaf = MembershipCertificate(subject: identity(9).publicKey, role: .reader, spaceID: home.id, issuedAt: t0, issuer: identity(10))
        expectError(.invalidCertificate) { try CertificateChain([root, strayLeaf]).verify(spaceID: home.id, now: t0, maxDrift: 0) }
    }

    @Test func issueTimeMayNotBeFurtherAheadThanTheDrift() throws {
        let chain = CertificateChain([home.certify(identity(7).publicKey, as: .writer, issuedAt: t0 + 10_000)])
        try chain.verify(spaceID: home.id, now: t0, maxDrift: 10_000)
        let error = expectError(.invalidCertificate) { try chain.verify(spaceID: home.id, now: t0, maxDrift: 9_999) }
        #expect(error?.message.contains("future") == true)
        try chain.verify(spaceID: home.id, now: 0, maxDrift: .max)  // no overflow
    }

    @Test func malformedCertificatesAreTypedErrors() {
        let good = home.certify(identity(7).publicKey, as: .writer, issuedAt: t0).bytes
        var future = good
        future[0] = 2
        expectError(.unsupportedVersion) { try MembershipCertificate(bytes: future) }
        var role = good
        role[65] = 9
        expectError(.invalidCertificate) { try MembershipCertificate(bytes: role) }
        expectError(.malformedBundle) { try MembershipCertificate(bytes: good + [0]) }
        for length in 0..<good.count {
            expectError(.malformedBundle) { try MembershipCertificate(bytes: Array(good.prefix(length))) }
        }
        expectError(.malformedBundle) { try CertificateChain(bytes: [3] + good + good + good) }
        expectError(.malformedBundle) { try CertificateChain(bytes: [0]) }
        expectError(.malformedBundle) { try CertificateChain(bytes: [2] + good) }
        expectError(.malformedBundle) { try CertificateChain(bytes: []) }
    }
}
