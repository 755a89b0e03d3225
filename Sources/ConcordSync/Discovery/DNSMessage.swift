/// A DNS name: its labels, compared without regard to ASCII case (RFC 1035 §2.3.3).
struct DNSName: Hashable, Sendable, CustomStringConvertible {
    let labels: [String]

    init(_ labels: [String]) {
        self.labels = labels
    }

    /// `"_concord._tcp.local"` → its labels (a trailing dot is allowed).
    init(_ dotted: String) {
        labels = dotted.split(separator: ".").map(String.init)
    }

    /// The lowercased dotted form, for comparisons.
    var key: String { labels.map { $0.lowercased() }.joined(separator: ".") }

    static func == (lhs: DNSName, rhs: DNSName) -> Bool { lhs.key == rhs.key }
    func hash(into hasher: inout Hasher) { hasher.combine(key) }

    var description: String { labels.joined(separator: ".") + "." }

    /// The name without its first label.
    var parent: DNSName { DNSName(Array(labels.dropFirst())) }
}

/// Record types used by DNS-SD over mDNS.
enum DNSType {
    static let a: UInt16 = 1
    static let ptr: UInt16 = 12
    static let txt: UInt16 = 16
    static let aaaa: UInt16 = 28
    static let srv: UInt16 = 33
    static let nsec: UInt16 = 47
    static let any: UInt16 = 255
}

/// A resource record's data, parsed for the types discovery uses.
enum DNSRData: Hashable, Sendable {
    case a([UInt8])
    case ptr(DNSName)
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
    case txt([[UInt8]])
    case other([UInt8])
}

/// A question: name, type, and the unicast-response bit (the top bit of the class, RFC 6762 §5.4).
struct DNSQuestion: Hashable, Sendable {
    var name: DNSName
    var type: UInt16
    var unicastResponse = false
}

/// A resource record; `cacheFlush` is the top bit of the class (RFC 6762 §10.2).
struct DNSRecord: Hashable, Sendable {
    var name: DNSName
    var type: UInt16
    var cacheFlush: Bool
    var ttl: UInt32
    var data: DNSRData

    /// Whether two records carry the same data (same name, type and data; TTL aside).
    func sameData(as other: DNSRecord) -> Bool {
        name == other.name && type == other.type && data == other.data
    }
}

/// A DNS message (RFC 1035 §4) as multicast DNS uses it: IN class only, names
/// decompressed on reading, written uncompressed.
struct DNSMessage: Sendable {
    var id: UInt16 = 0
    var flags: UInt16 = 0
    var questions: [DNSQuestion] = []
    var answers: [DNSRecord] = []
    var authorities: [DNSRecord] = []
    var additionals: [DNSRecord] = []

    /// QR bit: a response.
    var isResponse: Bool { flags & 0x8000 != 0 }

    /// The flags of an authoritative response.
    static let responseFlags: UInt16 = 0x8400

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Writing

    var encoded: [UInt8] {
        var out: [UInt8] = []
        func u16(_ value: UInt16) { out += [UInt8(value >> 8), UInt8(value & 0xff)] }
        func u32(_ value: UInt32) { out += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)] }
        func name(_ name: DNSName) { out += Self.encode(name) }
        func record(_ record: DNSRecord) {
            name(record.name)
            u16(record.type)
            u16((record.cacheFlush ? 0x8000 : 0) | 1)
            u32(record.ttl)
            let data = Self.encode(record.data)
            u16(UInt16(data.count))
            out += data
        }
        u16(id)
        u16(flags)
        u16(UInt16(questions.count))
        u16(UInt16(answers.count))
        u16(UInt16(authorities.count))
        u16(UInt16(additionals.count))
        for question in questions {
            name(question.name)
            u16(question.type)
            u16((question.unicastResponse ? 0x8000 : 0) | 1)
        }
        answers.forEach(record)
        authorities.forEach(record)
        additionals.forEach(record)
        return out
    }

    static func encode(_ name: DNSName) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.labels {
            let bytes = Array(label.utf8.prefix(63))
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
        return out
    }

    static func encode(_ data: DNSRData) -> [UInt8] {
        switch data {
        case .a(let address): return address
        case .ptr(let name): return encode(name)
        case let .srv(priority, weight, port, target):
            return [UInt8(priority >> 8), UInt8(priority & 0xff), UInt8(weight >> 8), UInt8(weight & 0xff), UInt8(port >> 8), UInt8(port & 0xff)] + encode(target)
        case .txt(let strings):
            if strings.isEmpty { return [0] }
            return strings.flatMap { [UInt8(min($0.count, 255))] + $0.prefix(255) }
        case .other(let bytes): return bytes
        }
    }

    // MARK: Reading

    /// Parses a whole message; anything malformed (a truncated field, a compression loop)
    /// is a ``ParseError`` and the packet is ignored.
    init(bytes: [UInt8]) throws {
        var offset = 0
        func u16() throws -> UInt16 {
            guard offset + 2 <= bytes.count else { throw ParseError(description: "truncated at \(offset)") }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }
        func u32() throws -> UInt32 {
            UInt32(try u16()) << 16 | UInt32(try u16())
        }
        func name() throws -> DNSName {
            let (parsed, next) = try Self.readName(bytes, at: offset)
            offset = next
            return parsed
        }
        func record() throws -> DNSRecord {
            let owner = try name()
            let type = try u16()
            let rrClass = try u16()
            let ttl = try u32()
            let length = Int(try u16())
            guard offset + length <= bytes.count else { throw ParseError(description: "record data past the end") }
            let start = offset
            offset += length
            let data: DNSRData
            switch type {
            case DNSType.a where length == 4:
                data = .a(Array(bytes[start..<offset]))
            case DNSType.ptr:
                data = .ptr(try Self.readName(bytes, at: start).0)
            case DNSType.srv where length >= 7:
                let priority = UInt16(bytes[start]) << 8 | UInt16(bytes[start + 1])
                let weight = UInt16(bytes[start + 2]) << 8 | UInt16(bytes[start + 3])
                let port = UInt16(bytes[start + 4]) << 8 | UInt16(bytes[start + 5])
                data = .srv(priority: priority, weight: weight, port: port, target: try Self.readName(bytes, at: start + 6).0)
            case DNSType.txt:
                var strings: [[UInt8]] = []
                var cursor = start
                while cursor < offset {
                    let count = Int(bytes[cursor])
                    guard cursor + 1 + count <= offset else { throw ParseError(description: "TXT string past its record") }
                    strings.append(Array(bytes[(cursor + 1)..<(cursor + 1 + count)]))
                    cursor += 1 + count
                }
                data = .txt(strings)
            default:
                data = .other(Array(bytes[start..<offset]))
            }
            return DNSRecord(name: owner, type: type, cacheFlush: rrClass & 0x8000 != 0, ttl: ttl, data: data)
        }
        id = try u16()
        flags = try u16()
        let counts = [try u16(), try u16(), try u16(), try u16()]
        // Each question takes at least 5 bytes and each record 11: refuse counts that cannot fit.
        guard Int(counts[0]) * 5 + (Int(counts[1]) + Int(counts[2]) + Int(counts[3])) * 11 <= bytes.count else {
            throw ParseError(description: "section counts exceed the packet")
        }
        for _ in 0..<counts[0] {
            let owner = try name()
            let type = try u16()
            let qClass = try u16()
            questions.append(DNSQuestion(name: owner, type: type, unicastResponse: qClass & 0x8000 != 0))
        }
        for _ in 0..<counts[1] { answers.append(try record()) }
        for _ in 0..<counts[2] { authorities.append(try record()) }
        for _ in 0..<counts[3] { additionals.append(try record()) }
    }

    init(id: UInt16 = 0, flags: UInt16 = 0, questions: [DNSQuestion] = [], answers: [DNSRecord] = [], authorities: [DNSRecord] = [], additionals: [DNSRecord] = []) {
        self.id = id
        self.flags = flags
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// Reads a possibly compressed name at `start`; returns it and the offset after it
    /// (after the first pointer, if any). At most 64 pointer jumps, 255 bytes of name.
    static func readName(_ bytes: [UInt8], at start: Int) throws -> (DNSName, Int) {
        var labels: [String] = []
        var offset = start
        var end: Int?
        var jumps = 0
        var length = 0
        while true {
            guard offset < bytes.count else { throw ParseError(description: "name past the end") }
            let count = Int(bytes[offset])
            if count == 0 {
                return (DNSName(labels), end ?? offset + 1)
            } else if count & 0xc0 == 0xc0 {
                guard offset + 1 < bytes.count else { throw ParseError(description: "pointer past the end") }
                jumps += 1
                guard jumps <= 64 else { throw ParseError(description: "compression loop") }
                if end == nil { end = offset + 2 }
                offset = (count & 0x3f) << 8 | Int(bytes[offset + 1])
            } else if count & 0xc0 == 0 {
                guard offset + 1 + count <= bytes.count else { throw ParseError(description: "label past the end") }
                length += count + 1
                guard length <= 255 else { throw ParseError(description: "name longer than 255 bytes") }
                labels.append(String(decoding: bytes[(offset + 1)..<(offset + 1 + count)], as: UTF8.self))
                offset += 1 + count
            } else {
                throw ParseError(description: "unknown label type")
            }
        }
    }
}
