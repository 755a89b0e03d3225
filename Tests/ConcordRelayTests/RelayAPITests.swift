import Concord
import ConcordCrypto
import ConcordSync
import Testing

@Suite struct RelayAPITests {
    @Test func authMessageLayout() throws {
        let space = Membership.createSpace().spaceID
        let challenge = [UInt8](repeating: 7, count: 32)
        let message = RelayAPI.authMessage(spaceID: space, challenge: challenge)
        #expect(message.count == 21 + 1 + 32 + 32)
        #expect(Array(message.prefix(21)) == Array("concord-relay-auth-v1".utf8))
        #expect(message[21] == 0)
        #expect(Array(message[22..<54]) == space.bytes)
        #expect(Array(message.suffix(32)) == challenge)
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
