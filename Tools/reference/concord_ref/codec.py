"""Encoding primitives of Specs/wire-format.md section 1: varint, zigzag, fixed64, blob,
string (strict UTF-8), and the error every decoder raises."""

from . import dev

U64 = 1 << 64


class Reject(Exception):
    """A decoder or importer refusal: `code` is the spec's error code name
    (malformedEncoding, unsupportedVersion, malformedBundle, ...)."""

    def __init__(self, code, message=""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def zigzag_encode(n):
    """Section 1: (n << 1) ^ (n >> 63) for a signed 64-bit n, as an unsigned integer."""
    return ((n << 1) ^ (n >> 63)) % U64


def zigzag_decode(u):
    """Section 1: (u >> 1) ^ -(u & 1), as a signed 64-bit integer."""
    return (u >> 1) ^ -(u & 1)


def to_signed64(u):
    return u - U64 if u >= 1 << 63 else u


def varint_bytes(value):
    """Minimal unsigned LEB128."""
    assert 0 <= value < U64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def validate_utf8(data):
    """Section 6 rule 5: valid UTF-8 only (no overlong forms, surrogates, code points above
    U+10FFFF, truncated sequences or stray continuation bytes); never replaced.
    Python's strict decoder implements exactly RFC 3629."""
    if dev.on("utf8-accept-surrogates"):
        try:
            data.decode("utf-8", "surrogatepass")
            return
        except UnicodeDecodeError:
            raise Reject("malformedEncoding", "invalid UTF-8")
    if dev.on("utf8-replace-invalid"):
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise Reject("malformedEncoding", "invalid UTF-8")


class Reader:
    """A strict reader over `data`; every failure raises Reject(`code`)."""

    def __init__(self, data, code="malformedEncoding"):
        self.data = bytes(data)
        self.offset = 0
        self.code = code

    def fail(self, message):
        raise Reject(self.code, f"{message} at offset {self.offset}")

    @property
    def remaining(self):
        return len(self.data) - self.offset

    def at_end(self):
        return self.offset == len(self.data)

    def take(self, n):
        if n > self.remaining:
            self.fail(f"{n} bytes needed, {self.remaining} left")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def byte(self):
        return self.take(1)[0]

    def varint(self):
        """Section 1 and section 6 rules 1-2: at most 10 bytes, below 2^64, minimal."""
        value, shift, count = 0, 0, 0
        while True:
            byte = self.byte()
            count += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if byte == 0 and count > 1 and not dev.on("varint-accept-non-minimal"):
                    self.fail("non-minimal varint")
                if count == 10 and byte > 1 and not dev.on("varint-accept-over-64-bits"):
                    self.fail("varint above 2^64 - 1")
                return value % U64
            shift += 7
            if count == 10 and not dev.on("varint-accept-eleven-bytes"):
                self.fail("varint longer than 10 bytes")

    def zigzag(self):
        return zigzag_decode(self.varint())

    def fixed64(self):
        return int.from_bytes(self.take(8), "little")

    def count(self, item_size, what):
        """Section 6 rule 3: a count of items at least `item_size` bytes long must fit in
        the bytes left (checked before anything is allocated)."""
        n = self.varint()
        if n > self.remaining // item_size:
            self.fail(f"{n} {what} cannot fit in {self.remaining} bytes")
        return n

    def blob(self):
        n = self.varint()
        if n > self.remaining:
            self.fail(f"length {n} exceeds the {self.remaining} bytes left")
        return self.take(n)

    def string(self):
        data = self.blob()
        validate_utf8(data)
        return data


class Writer:
    def __init__(self):
        self.out = bytearray()

    def u8(self, b):
        self.out.append(b)

    def raw(self, data):
        self.out += data

    def varint(self, v):
        self.out += varint_bytes(v)

    def zigzag(self, n):
        self.varint(zigzag_encode(n))

    def fixed64(self, v):
        self.out += (v % U64).to_bytes(8, "little")

    def blob(self, data):
        self.varint(len(data))
        self.out += data

    def bytes(self):
        return bytes(self.out)
