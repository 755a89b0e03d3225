import Testing
@testable import ConcordCore

@Suite struct ORSetTests {
    @Test func addThenRemoveObserved() {
        var set = ORSet()
        set.add("x", tag: stamp(1))
        #expect(set.contains("x"))
        set.remove("x", observed: set.tags(of: "x"))
        #expect(!set.contains("x"))
        #expect(set.isEmpty)
        #expect(set.tombstoneCount == 1)
    }

    @Test func concurrentAddWinsOverRemove() {
        var a = ORSet(), b = ORSet()
        a.add("x", tag: stamp(1, 0, 1))
        b.merge(a)
        b.remove("x", observed: b.tags(of: "x"))  // b removes what it saw
        a.add("x", tag: stamp(2, 0, 1))  // a re-adds concurrently
        a.merge(b)
        b.merge(a)
        #expect(a.contains("x") && b.contains("x"))
        #expect(a == b)
    }

    @Test func removeBeforeItsAddArrivesStillRemoves() {
        var early = ORSet()
        early.remove("x", observed: [stamp(1)])
        early.add("x", tag: stamp(1))
        var normal = ORSet()
        normal.add("x", tag: stamp(1))
        normal.remove("x", observed: [stamp(1)])
        #expect(!early.contains("x"))
        #expect(early == normal)
    }

    @Test func removeTargetsOnlyTheNamedValue() {
        // A (forged) remove naming another value's tag must not depend on delivery order.
        var one = ORSet(), two = ORSet()
        one.add("x", tag: stamp(1))
        one.remove("y", observed: [stamp(1)])
        two.remove("y", observed: [stamp(1)])
        two.add("x", tag: stamp(1))
        #expect(one == two)
        #expect(one.contains("x"))
    }

    @Test func elementsAreSortedAndUnique() {
        var set = ORSet()
        set.add(3, tag: stamp(1))
        set.add("a", tag: stamp(2))
        set.add(3, tag: stamp(3))
        set.add(1, tag: stamp(4))
        #expect(set.elements == [1, 3, "a"])
        #expect(set.tags(of: 3) == [stamp(1), stamp(3)])
    }
}
