// `RelayAPI` and `BundleStreamFraming` (the relay protocol shared with the server) come
// with `import ConcordSync`.
@_exported import ConcordRelayProtocol
