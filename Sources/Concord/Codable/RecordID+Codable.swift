import ConcordCore

/// A record id encodes as its UUID text (`"E621E1F8-C36C-495A-93FC-0C247A3E6E5F"`), so an
/// app model can declare `var id: RecordID` and still be used with `JSONEncoder` and
/// ``RecordEncoder`` / ``RecordDecoder`` (which skip and fill `id` from the record).
extension RecordID: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try RecordID(uuidString: text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\"\(text)\" is not a record id; a record id is a UUID like E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(uuidString)
    }
}
