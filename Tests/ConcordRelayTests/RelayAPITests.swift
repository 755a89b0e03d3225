import Concord
import ConcordCrypto
import ConcordSync
import Foundation
import Testing

@Suite struct RelayAPITests {
    @Test("the auth message names the relay: context, 0, origin length (u16 BE), origin, space, challenge")
    func authMessageLayout() throws {
        let space = Membership.createSpace().spaceID
        let challenge = [UInt8](repeating: 7, count: 32)
        let origin = "https://relay.example.org:443"
        let message = RelayAPI.authMessage(relay: origin, spaceID: space, challenge: challenge)
        #expect(message.count == 21 + 1 + 2 + origin.utf8.count + 32 + 32)
        #expect(Array(message.prefix(21)) == Array("concord-relay-auth-v2".utf8))
        #expect(message[21] == 0)
        #expect(message[22] == 0 && Int(message[23]) == origin.utf8.count)
        #expect(Array(message[24..<(24 + origin.utf8.count)]) == Array(origin.utf8))
        #expect(Array(message[(24 + origin.utf8.count)..<(56 + origin.utf8.count)]) == space.bytes)
        #expect(Array(message.suffix(32)) == challenge)
        // Another relay, another message: a signature for one is no good at the other.
        #expect(RelayAPI.authMessage(relay: "https://evil.example:443", spaceID: space, challenge: challenge) != message)
    }

    @Test("origins are canonical: lowercase, explicit port, no path; anything but http(s) is refused")
    func originsAreCanonical() throws {
        #expect(RelayAPI.origin(of: URL(string: "HTTP://Relay.Example.org/base/")!) == "http://relay.example.org:80")
        #expect(RelayAPI.origin(of: URL(string: "https://relay.example.org")!) == "https://relay.example.org:443")
        #expect(RelayAPI.origin(of: URL(string: "http://127.0.0.1:8080")!) == "http://127.0.0.1:8080")
        #expect(RelayAPI.origin(of: URL(string: "http://[::1]:8080/x")!) == "http://[::1]:8080")
        #expect(RelayAPI.origin(of: URL(string: "ftp://relay.example.org")!) == nil)
        #expect(RelayAPI.origin(of: URL(string: "relay.example.org")!) == nil)
    }

    @Test func framingRoundTripsInAnyChunking() throws {
        let bundles: [[UInt8]] = [[1], [2, 3], Array(repeating: 9, count: 300)]
        let stream = BundleStreamFraming.encode(bundles)
        for chunk in [1, 2, 3, 5, 7, 64, stream.count] {
            var decoder = BundleStreamFraming.Decoder(maxFrameBytes: 1024)
            var out: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                decoder.append(stream[offset..<min(stream.count, offset + chunk)])
                offset += chunk
                while let frame = try decoder.next() { out.append(frame) }
            }
            #expect(out == bundles)
            #expect(decoder.isFinished)
        }
    }

    @Test func cutStreamIsNotFinishedAndKeepsWholeFrames() throws {
        let stream = BundleStreamFraming.encode([[1, 2], [3, 4, 5]])
        var decoder = BundleStreamFraming.Decoder(maxFrameBytes: 1024)
        decoder.append(stream.prefix(stream.count - 6))
        #expect(try decoder.next() == [1, 2])
        #expect(try decoder.next() == nil)
        #expect(!decoder.isFinished)
    }

    @Test func oversizedFrameIsRefused() throws {
        var decoder = BundleStreamFraming.Decoder(maxFrameBytes: 10)
        decoder.append(BundleStreamFraming.frame(Array(repeating: 0, count: 11)))
        #expect(throws: RelayProtocolError.self) { try decoder.next() }
    }

    @Test func vectorJSONRoundTrips() throws {
        let a = Identity().publicKey
        let vector = VersionVector([a: 3])
        #expect(try RelayAPI.vector(RelayAPI.json(vector)) == vector)
        #expect(throws: RelayProtocolError.self) { try RelayAPI.vector(["nothex": 1]) }
    }
}
