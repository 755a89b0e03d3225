"""The primitives of Specs/wire-format.md section 7.1, from PyNaCl (libsodium) and hashlib."""
import hashlib

from . import dev

try:
    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
    from nacl.exceptions import BadSignatureError, CryptoError
    from nacl.signing import SigningKey, VerifyKey
except ImportError:  # reported by the command-line tools
    SigningKey = None


def blake2b256(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def public_key(seed):
    """crypto_sign_seed_keypair(seed): the space id of a space seed."""
    return bytes(SigningKey(seed).verify_key)


def content_key(seed):
    """crypto_kdf_derive_from_key(32, subkey 1, "CCcontnt", seed), written with hashlib."""
    subkey = 0 if dev.on("content-key-subkey-0") else 1
    salt = subkey.to_bytes(8, "little") + bytes(8)
    return hashlib.blake2b(b"", digest_size=32, key=seed, salt=salt, person=b"CCcontnt" + bytes(8)).digest()


def kdf(key, context, subkey=1):
    """crypto_kdf_derive_from_key(32, subkey, context, key), written with hashlib."""
    salt = subkey.to_bytes(8, "little") + bytes(8)
    return hashlib.blake2b(b"", digest_size=32, key=key, salt=salt, person=context + bytes(8)).digest()


def peer_secret(first_epoch_key):
    """The peer secret of an encrypted space with members: kdf(first epoch key, "CCpeersc")
    (Specs/peer-protocol.md section 2.1)."""
    context = b"CCpeerhs" if dev.on("peer-secret-handshake-context") else b"CCpeersc"
    return kdf(first_epoch_key, context)


def verifies(key, message, signature):
    try:
        VerifyKey(key).verify(message, signature)
        return True
    except (BadSignatureError, ValueError):
        return False


def open_box(key, payload, associated_data):
    """XChaCha20-Poly1305-IETF: nonce (24 bytes), then ciphertext and tag. None when it
    does not authenticate."""
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(payload[24:], associated_data, payload[:24], key)
    except CryptoError:
        return None
