import Testing
@testable import ConcordCore

@Suite struct LWWRegisterTests {
    @Test func laterStampWins() {
        var r = LWWRegister(value: "old", stamp: stamp(1))
        let changed = r.write("new", stamp: stamp(2))
        let stale = r.write("stale", stamp: stamp(1, 5))
        #expect(changed && !stale)
        #expect(r.value == "new")
    }

    @Test func equalClockTieBreaksOnReplicaID() {
        var r = LWWRegister(value: "from 9", stamp: stamp(5, 0, 9))
        r.write("from 2", stamp: stamp(5, 0, 2))
        #expect(r.value == "from 9")
        var s = LWWRegister(value: "from 2", stamp: stamp(5, 0, 2))
        s.write("from 9", stamp: stamp(5, 0, 9))
        #expect(s == r)
    }

    @Test func identicalStampsTieBreakOnValueOrder() {
        var r = LWWRegister(value: "b", stamp: stamp(5))
        r.write("a", stamp: stamp(5))
        #expect(r.value == "b")
        var s = LWWRegister(value: "a", stamp: stamp(5))
        s.write("b", stamp: stamp(5))
        #expect(s == r)
    }
}
