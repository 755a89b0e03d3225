// What apps need comes with `import Concord`: values, record ids and views from
// ConcordCore; stores and queries from ConcordStore.
@_exported import ConcordCore
@_exported import ConcordStore
