// What apps need comes with `import Concord`: spaces, invites and bundles from
// ConcordProtocol; values, record ids and views from ConcordCore; stores and queries from
// ConcordStore.
@_exported import ConcordCore
@_exported import ConcordProtocol
@_exported import ConcordStore
