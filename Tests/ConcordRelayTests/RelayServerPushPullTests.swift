import Concord
import ConcordCrypto
import ConcordRelay
import ConcordSync
import Foundation
import Testing

/// §4: push and pull over real HTTP, and every refusal leaving storage unchanged.
@Suite struct RelayServerPushPullTests {
    @Test(arguments: StorageBackend.all) func pushThenPullRoundTrips(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 3)
        let b = try makeBundles(space.bob, count: 2)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            let bob = try await relay.login(space.bob)
            let carol = try await relay.login(space.carol)
            let first = try await relay.push(a, to: space.id, token: alice)
            #expect(first.status == 200, "\(first.text)")
            #expect(try first.json(RelayAPI.PushResponse.self) == RelayAPI.PushResponse(stored: 3, duplicates: 0))
            // Bob pushes his own bundles and relays Alice's first one again.
            let second = try await relay.push([a[0]] + b, to: space.id, token: bob)
            #expect(try second.json(RelayAPI.PushResponse.self) == RelayAPI.PushResponse(stored: 2, duplicates: 1))
            #expect(try await relay.vector(space.id, token: carol) == VersionVector([space.alice.device.publicKey: 3, space.bob.device.publicKey: 2]))
            #expect(try await relay.pull(space.id, token: carol) == (a + b).map(\.bytes))
            let since = VersionVector([space.alice.device.publicKey: 2, space.bob.device.publicKey: 2])
            #expect(try await relay.pull(space.id, token: carol, since: since) == [a[2].bytes])
            // Every pulled bundle verifies and imports on the reader's side.
            for bytes in try await relay.pull(space.id, token: carol) {
                let bundle = try BundleVerifier(spaceID: space.id).verify(bytes)
                _ = try space.carol.contents(of: bundle)
            }
        }
    }

    @Test(arguments: StorageBackend.all) func pullStreamsManyPages(_ backend: StorageBackend) async throws {
        let space = try TestSpace(encrypted: false)
        var log = BundleLog()
        let a = try makeBundles(space.alice, count: 600, log: &log)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            for chunk in stride(from: 0, to: a.count, by: 200) {
                let answer = try await relay.push(Array(a[chunk..<min(a.count, chunk + 200)]), to: space.id, token: alice)
                #expect(answer.status == 200)
            }
            let pulled = try await relay.pull(space.id, token: alice)
            #expect(pulled == a.map(\.bytes))
            #expect(try await relay.pull(space.id, token: alice, since: VersionVector([space.alice.device.publicKey: 599])) == [a[599].bytes])
        }
    }

    @Test(arguments: StorageBackend.all) func duplicatePushIsANoOp(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 2)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            _ = try await relay.push(a, to: space.id, token: alice)
            let before = try await relay.snapshot(space.id)
            let again = try await relay.push(a, to: space.id, token: alice)
            #expect(try again.json(RelayAPI.PushResponse.self) == RelayAPI.PushResponse(stored: 0, duplicates: 2))
            #expect(try await relay.snapshot(space.id) == before)
        }
    }

    @Test(arguments: StorageBackend.all) func forkIs409AndStorageUnchanged(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 2)
        let fork = try makeBundles(space.alice, count: 1)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            _ = try await relay.push(a, to: space.id, token: alice)
            let before = try await relay.snapshot(space.id)
            let answer = try await relay.push(fork, to: space.id, token: alice)
            #expect(answer.status == 409)
            #expect(try answer.error().error == "fork")
            #expect(try await relay.snapshot(space.id) == before)
        }
    }

    @Test(arguments: StorageBackend.all) func gapIs409WithExpected(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 4)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            _ = try await relay.push([a[0]], to: space.id, token: alice)
            let before = try await relay.snapshot(space.id)
            let answer = try await relay.push([a[2], a[3]], to: space.id, token: alice)
            #expect(answer.status == 409)
            let body = try answer.error()
            #expect(body.error == "missing-predecessor")
            #expect(body.expected == RelayAPI.Expected(author: space.alice.device.publicKey.hex, sequence: 2))
            #expect(try await relay.snapshot(space.id) == before)
            // Resending from the expected sequence works.
            #expect(try await relay.push(Array(a[1...]), to: space.id, token: alice).status == 200)
        }
    }

    @Test(arguments: StorageBackend.all) func invalidBundlesAreRefusedAndStorageUnchanged(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        var log = BundleLog()
        let a = try makeBundles(space.alice, count: 2, log: &log)
        let next = try makeBundles(space.alice, count: 1, log: &log)[0]
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            _ = try await relay.push(a, to: space.id, token: alice)
            let before = try await relay.snapshot(space.id)

            var forged = next.bytes
            forged[forged.count - 1] ^= 0x01  // the signature
            var tampered = next.bytes
            tampered[tampered.count - 80] ^= 0x01  // the payload
            let outsider = try forgeBundle(spaceID: space.id, signer: space.mallory.device, certificates: space.mallory.certificates!)
            let readerSigned = try forgeBundle(spaceID: space.id, signer: space.carol.device, certificates: space.carol.certificates!)
            let otherSpace = try makeBundles(space.mallory, count: 1)[0]
            // A writer's own, correctly chained bundle from a clock a day ahead.
            let farFuture = try forgeBundle(
                spaceID: space.id, signer: space.alice.device, certificates: space.alice.certificates!, sequence: next.sequence + 1,
                previous: next.id, aheadMilliseconds: 86_400_000)
            let cases: [(String, [UInt8])] = [
                ("forged signature", forged), ("tampered bytes", tampered), ("non-member", outsider.bytes),
                ("reader-signed", readerSigned.bytes), ("other space", otherSpace.bytes), ("garbage", [1, 2, 3]),
                ("clock a day ahead", farFuture.bytes),
            ]
            for (name, bytes) in cases {
                // The bad bundle comes second: the valid first one must not be stored either.
                let answer = try await relay.pushRaw(BundleStreamFraming.encode([next.bytes, bytes]), to: space.id, token: alice)
                #expect(answer.status == 422, "\(name): \(answer.text)")
                let body = try answer.error()
                #expect(body.error == "invalid-bundle", "\(name)")
                #expect(body.message.contains("bundle 1"), "\(name): \(body.message)")
                if name == "clock a day ahead" { #expect(body.message.contains("clock") && body.message.contains("ahead"), "\(name): \(body.message)") }
                #expect(try await relay.snapshot(space.id) == before, "\(name)")
            }
        }
    }

    @Test(arguments: StorageBackend.all) func readerPushIs403AndStorageUnchanged(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 1)
        try await RelayHarness.with(backend) { relay in
            let carol = try await relay.login(space.carol)
            let before = try await relay.snapshot(space.id)
            let answer = try await relay.push(a, to: space.id, token: carol)
            #expect(answer.status == 403)
            #expect(try answer.error().error == "read-only")
            #expect(try await relay.snapshot(space.id) == before)
        }
    }

    @Test(arguments: StorageBackend.all) func malformedStreamsAre400(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 1)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            let cut = BundleStreamFraming.encode(a.map(\.bytes)).dropLast(4)
            let answer = try await relay.pushRaw(Array(cut), to: space.id, token: alice)
            #expect(answer.status == 400)
            #expect(try answer.error().error == "bad-request")
            let trailing = try await relay.pushRaw(BundleStreamFraming.encode(a.map(\.bytes)) + [9], to: space.id, token: alice)
            #expect(trailing.status == 400)
            #expect(try await relay.snapshot(space.id).bundles.isEmpty)
            let badVector = try await relay.request(.POST, RelayAPI.path(space.id, "pull"), token: alice, body: Array(#"{"since": {"zz": 1}}"#.utf8), contentType: "application/json")
            #expect(badVector.status == 400)
        }
    }
}
