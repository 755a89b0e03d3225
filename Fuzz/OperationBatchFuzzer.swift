// libFuzzer target for the operation-batch decoder (the payload of every change bundle).
// Built by Fuzz/run.sh with `swiftc -sanitize=fuzzer,address` over ConcordCore's sources.
//
// Invariants checked on every input:
// - decoding never crashes, hangs or allocates beyond what the input justifies;
// - whatever decodes re-encodes and decodes again to the same operations;
// - applying decoded operations in both orders gives the same state.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOperationBatch(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard let ops = try? OperationCodec.decode(bytes) else { return 0 }
    let again = try! OperationCodec.decode(OperationCodec.encode(ops))
    precondition(again == ops, "re-encoding changed the operations")
    var forward = ReplicaState(), backward = ReplicaState()
    forward.apply(contentsOf: ops)
    backward.apply(contentsOf: ops.reversed())
    precondition(forward == backward, "apply depends on order for a decodable batch")
    return 0
}
