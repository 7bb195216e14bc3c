//! Personal data at rest (DESIGN.md §5): applicants' ID numbers and phone numbers are stored
//! sealed with an AEAD, found again through a keyed lookup hash, and masked in responses.
//!
//! One configured master [`DataKey`] yields three independent subkeys, HMAC-SHA256(master,
//! label): `"yiwang seal v1"` encrypts values, `"yiwang file v1"` encrypts files
//! ([`crate::files`]) and `"yiwang lookup v1"` keys the lookup hash, so no two uses share a key.
//!
//! Sealed format, version 1: `0x01 || nonce (24 bytes) || ciphertext || tag (16 bytes)`, where
//! the cipher is XChaCha20-Poly1305 with a fresh random nonce per seal and the associated data
//! is the version byte followed by the caller's `aad`. Callers pass the column as `aad`
//! (`b"cases.applicant_id"`), so a ciphertext copied into another column does not open.
//!
//! Lookup hash: HMAC-SHA256(lookup subkey, `kind || 0x00 || normalized value`), where the value
//! is trimmed and ASCII-uppercased (ID numbers end in `X` or `x`). Equal values of one kind hash
//! equally; values of different kinds never do.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The first byte of every sealed value.
const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Smallest sealed value: version, nonce and the tag of an empty plaintext.
const MIN_SEALED_LEN: usize = 1 + NONCE_LEN + TAG_LEN;

const SEAL_LABEL: &[u8] = b"yiwang seal v1";
const LOOKUP_LABEL: &[u8] = b"yiwang lookup v1";
/// The subkey of files (material scans), sealed chunk by chunk (`crate::files`).
const FILE_LABEL: &[u8] = b"yiwang file v1";

/// The development master key, standard base64 of the 32 ASCII bytes
/// `"yiwang development key, not prod"`. [`DataKey::development`] uses it; data sealed with it
/// is not protected, and callers warn when it is in use ([`DataKey::is_development`]).
pub const DEVELOPMENT_KEY: &str = "eWl3YW5nIGRldmVsb3BtZW50IGtleSwgbm90IHByb2Q=";

/// Why a sealed value does not open. No variant carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed value has unsupported format version {0}")]
    UnsupportedVersion(u8),
    #[error("sealed value is too short")]
    TooShort,
    #[error("sealed value does not authenticate (wrong key, wrong column or tampered)")]
    Authentication,
    #[error("sealed value is not UTF-8 text")]
    NotUtf8,
}

impl From<CryptoError> for crate::Error {
    /// Stored data that does not open is a server fault (key or data corruption), never the
    /// caller's.
    fn from(e: CryptoError) -> Self {
        crate::Error::internal(e)
    }
}

/// The master key of personal data, and the two subkeys derived from it.
#[derive(Clone)]
pub struct DataKey {
    aead: XChaCha20Poly1305,
    file: XChaCha20Poly1305,
    lookup: HmacSha256,
    development: bool,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("development", &self.development)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// The key of this deployment: `YIWANG_DATA_KEY`, or the development key with a warning.
    pub fn from_config(cfg: &crate::Config) -> anyhow::Result<DataKey> {
        Ok(match &cfg.data_key {
            Some(k) => {
                DataKey::from_base64(k).map_err(|e| anyhow::anyhow!("YIWANG_DATA_KEY: {e}"))?
            }
            None => {
                tracing::warn!(
                    "YIWANG_DATA_KEY is not set: personal data is sealed with the built-in development key. Never do this in production."
                );
                DataKey::development()
            }
        })
    }

    /// A key from configuration: standard base64 (with padding) of exactly 32 bytes. Errors
    /// say what is wrong without echoing the value.
    pub fn from_base64(s: &str) -> anyhow::Result<DataKey> {
        // The decoder's own error names the offending byte: do not pass it on.
        let bytes = STANDARD.decode(s.trim()).map_err(|_| {
            anyhow::anyhow!("data key is not valid standard base64 (A-Z a-z 0-9 + /, '=' padded)")
        })?;
        let master: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "data key must be {KEY_LEN} bytes after base64 decoding, not {}",
                bytes.len()
            )
        })?;
        Ok(Self::from_master(&master))
    }

    /// The fixed development key ([`DEVELOPMENT_KEY`]). Never for real data.
    pub fn development() -> DataKey {
        Self::from_master(&Self::development_master())
    }

    /// Whether this is the development key, however it was configured.
    pub fn is_development(&self) -> bool {
        self.development
    }

    fn development_master() -> [u8; KEY_LEN] {
        *b"yiwang development key, not prod"
    }

    fn from_master(master: &[u8; KEY_LEN]) -> DataKey {
        let subkey = |label: &[u8]| -> [u8; KEY_LEN] {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(master)
                .expect("HMAC accepts keys of any length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let seal = subkey(SEAL_LABEL);
        let lookup = subkey(LOOKUP_LABEL);
        DataKey {
            aead: XChaCha20Poly1305::new(&Key::from(seal)),
            file: XChaCha20Poly1305::new(&Key::from(subkey(FILE_LABEL))),
            lookup: <HmacSha256 as Mac>::new_from_slice(&lookup)
                .expect("HMAC accepts keys of any length"),
            development: *master == Self::development_master(),
        }
    }

    /// The AEAD of files, under its own subkey (the STREAM construction in [`crate::files`]).
    pub(crate) fn file_aead(&self) -> &XChaCha20Poly1305 {
        &self.file
    }

    /// Seals `plaintext` bound to `aad` (the column, e.g. `b"cases.applicant_id"`). Two seals
    /// of the same value differ.
    pub fn seal(&self, plaintext: &str, aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = XNonce::from(nonce);
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &full_aad(aad),
                },
            )
            // XChaCha20-Poly1305 refuses only plaintexts of 256 GiB and more.
            .expect("plaintext within the XChaCha20-Poly1305 length limit");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed by [`DataKey::seal`] with the same key and `aad`. Any other input
    /// is an error, never a panic.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::TooShort)?;
        if version != VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        if sealed.len() < MIN_SEALED_LEN {
            return Err(CryptoError::TooShort);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::TooShort)?;
        let plaintext = self
            .aead
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &full_aad(aad),
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::NotUtf8)
    }

    /// The keyed hash of `value` for exact lookups without decrypting. `kind` names what the
    /// value is (`"id_number"`, `"phone"`) and must not contain NUL; the value is trimmed and
    /// ASCII-uppercased first, so `…002x` and ` …002X ` hash equally.
    pub fn lookup_hash(&self, kind: &str, value: &str) -> [u8; 32] {
        debug_assert!(!kind.contains('\0'), "lookup kind must not contain NUL");
        let mut mac = self.lookup.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.trim().to_ascii_uppercase().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The associated data of format version 1: the version byte, then the caller's data.
fn full_aad(aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + aad.len());
    full.push(VERSION);
    full.extend_from_slice(aad);
    full
}

/// Masks an ID number for responses: an 18-character resident ID keeps its first 4 and last 4
/// characters (`1101**********002X`); any other length follows [`mask_generic`].
/// Characters no one misreads on a receipt or a phone screen (no 0/O, 1/I/L).
const UNAMBIGUOUS: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A random code of `len` unambiguous characters (31 symbols: ~4.95 bits each), from the
/// operating system's generator.
pub fn random_code(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| UNAMBIGUOUS[rng.random_range(0..UNAMBIGUOUS.len())] as char)
        .collect()
}

/// Equality of two secrets in time that does not depend on where they differ.
pub fn equal_secrets(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn mask_id_number(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    if chars.len() == 18 {
        keep_ends(&chars, 4, 4)
    } else {
        mask_chars(&chars)
    }
}

/// Masks a phone number for responses: an 11-digit mobile number keeps its first 3 and last 4
/// digits (`138****5678`); anything else follows [`mask_generic`].
pub fn mask_phone(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    if chars.len() == 11 && chars[0] == '1' && chars.iter().all(char::is_ascii_digit) {
        keep_ends(&chars, 3, 4)
    } else {
        mask_chars(&chars)
    }
}

/// Masks a personal name for responses: the first character stays, the rest become `*`
/// (`张三丰` → `张**`); a one-character name becomes `*`.
pub fn mask_name(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_string(),
        _ => keep_ends(&chars, 1, 0),
    }
}

/// The generic mask: keeps up to 2 characters at each end, never more than a quarter of the
/// value at each end (so at most half is shown), and at least one `*` in between. Counts
/// characters, not bytes. An empty value stays empty.
pub fn mask_generic(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    mask_chars(&chars)
}

fn mask_chars(chars: &[char]) -> String {
    if chars.is_empty() {
        return String::new();
    }
    let keep = (chars.len() / 4).min(2);
    keep_ends(chars, keep, keep)
}

/// The first `head` and last `tail` characters with `*` for each one between (at least one).
fn keep_ends(chars: &[char], head: usize, tail: usize) -> String {
    let head = head.min(chars.len());
    let tail = tail.min(chars.len() - head);
    let stars = (chars.len() - head - tail).max(1);
    let mut out = String::with_capacity(chars.len() * 3);
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', stars));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &[u8] = b"cases.applicant_id";
    const ID: &str = "11010519491231002X";

    fn other_key() -> DataKey {
        DataKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn round_trip() {
        let key = DataKey::development();
        for value in [ID, "13800138000", "", "张三丰"] {
            let sealed = key.seal(value, AAD);
            assert_eq!(sealed[0], VERSION);
            assert_eq!(sealed.len(), MIN_SEALED_LEN + value.len());
            assert_eq!(key.open(&sealed, AAD).unwrap(), value);
        }
    }

    #[test]
    fn seals_of_one_value_differ() {
        let key = DataKey::development();
        let a = key.seal(ID, AAD);
        let b = key.seal(ID, AAD);
        assert_ne!(a, b);
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
    }

    #[test]
    fn tampering_any_byte_fails() {
        let key = DataKey::development();
        let sealed = key.seal(ID, AAD);
        for i in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = sealed.clone();
                t[i] ^= bit;
                assert!(key.open(&t, AAD).is_err(), "byte {i} bit {bit:#x}");
            }
        }
        // Truncated and extended values fail too.
        for len in 0..sealed.len() {
            assert!(key.open(&sealed[..len], AAD).is_err(), "length {len}");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(key.open(&longer, AAD), Err(CryptoError::Authentication));
    }

    #[test]
    fn wrong_aad_fails() {
        let key = DataKey::development();
        let sealed = key.seal(ID, AAD);
        assert_eq!(
            key.open(&sealed, b"cases.agent_id"),
            Err(CryptoError::Authentication)
        );
        assert_eq!(key.open(&sealed, b""), Err(CryptoError::Authentication));
        // The version byte is bound too: caller aad cannot stand in for it.
        assert_eq!(
            key.open(&key.seal(ID, b""), &[VERSION]),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = DataKey::development().seal(ID, AAD);
        assert_eq!(
            other_key().open(&sealed, AAD),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let key = DataKey::development();
        assert_eq!(key.open(&[], AAD), Err(CryptoError::TooShort));
        assert_eq!(key.open(&[VERSION], AAD), Err(CryptoError::TooShort));
        assert_eq!(
            key.open(&[VERSION; MIN_SEALED_LEN - 1], AAD),
            Err(CryptoError::TooShort)
        );
        assert_eq!(
            key.open(&[VERSION; MIN_SEALED_LEN], AAD),
            Err(CryptoError::Authentication)
        );
        assert_eq!(key.open(&[0], AAD), Err(CryptoError::UnsupportedVersion(0)));
        assert_eq!(
            key.open(&[2; 100], AAD),
            Err(CryptoError::UnsupportedVersion(2))
        );
        // Pseudo-random garbage of every length up to 200 bytes.
        let mut x: u32 = 0x1234_5678;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            assert!(key.open(&bytes, AAD).is_err());
        }
    }

    #[test]
    fn non_utf8_plaintext_is_an_error() {
        let key = DataKey::development();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = key
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &[0xff, 0xfe],
                    aad: &full_aad(AAD),
                },
            )
            .unwrap();
        let mut sealed = vec![VERSION];
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ct);
        assert_eq!(key.open(&sealed, AAD), Err(CryptoError::NotUtf8));
    }

    #[test]
    fn lookup_hash_normalizes_and_separates() {
        let key = DataKey::development();
        let h = key.lookup_hash("id_number", "11010519491231002x");
        assert_eq!(h, key.lookup_hash("id_number", "11010519491231002X"));
        assert_eq!(h, key.lookup_hash("id_number", "  11010519491231002X\n"));
        assert_eq!(h, DataKey::development().lookup_hash("id_number", ID));
        assert_ne!(h, key.lookup_hash("id_number", "110105194912310021"));
        assert_ne!(h, key.lookup_hash("phone", ID));
        assert_ne!(h, other_key().lookup_hash("id_number", ID));
        // The separator keeps (kind, value) pairs apart.
        assert_ne!(key.lookup_hash("ab", "c"), key.lookup_hash("a", "bc"));
    }

    #[test]
    fn subkeys_are_independent() {
        // The lookup hash is not HMAC under the master key or under the sealing subkey.
        let master = DataKey::development_master();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&master).unwrap();
        mac.update(b"id_number\0");
        mac.update(ID.as_bytes());
        let under_master: [u8; 32] = mac.finalize().into_bytes().into();
        assert_ne!(
            DataKey::development().lookup_hash("id_number", ID),
            under_master
        );
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&master).unwrap();
        mac.update(SEAL_LABEL);
        let seal: [u8; 32] = mac.finalize().into_bytes().into();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&master).unwrap();
        mac.update(LOOKUP_LABEL);
        let lookup: [u8; 32] = mac.finalize().into_bytes().into();
        assert_ne!(seal, lookup);
    }

    #[test]
    fn development_key() {
        assert_eq!(
            STANDARD.decode(DEVELOPMENT_KEY).unwrap(),
            DataKey::development_master()
        );
        assert!(DataKey::development().is_development());
        assert!(
            DataKey::from_base64(DEVELOPMENT_KEY)
                .unwrap()
                .is_development()
        );
        assert!(!other_key().is_development());
        // A value sealed under the development key opens under the same key from config.
        let sealed = DataKey::development().seal(ID, AAD);
        let configured = DataKey::from_base64(DEVELOPMENT_KEY).unwrap();
        assert_eq!(configured.open(&sealed, AAD).unwrap(), ID);
    }

    #[test]
    fn from_base64_errors() {
        let secret = STANDARD.encode([0x5au8; 31]);
        let e = DataKey::from_base64(&secret).unwrap_err().to_string();
        assert!(e.contains("32 bytes") && e.contains("31"), "{e}");
        assert!(!e.contains(&secret), "{e}");
        let e = DataKey::from_base64(&STANDARD.encode([1u8; 33]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("32 bytes"), "{e}");
        let bad = "not-base64-at-all!not-base64-at-all!not-base64";
        let e = DataKey::from_base64(bad).unwrap_err().to_string();
        assert!(e.contains("base64") && !e.contains(bad), "{e}");
        // URL-safe alphabet is not the standard one.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode([0xfbu8; 32]);
        assert!(DataKey::from_base64(&url_safe).is_err());
        assert!(DataKey::from_base64("").is_err());
        // Surrounding whitespace (a trailing newline from a file) is accepted.
        assert!(DataKey::from_base64(&format!(" {}\n", STANDARD.encode([9u8; 32]))).is_ok());
    }

    #[test]
    fn debug_hides_key_material() {
        let key = DataKey::from_base64(&STANDARD.encode([0xabu8; 32])).unwrap();
        let s = format!("{key:?} {:?}", key.clone());
        assert_eq!(
            s,
            "DataKey { development: false, .. } DataKey { development: false, .. }"
        );
    }

    #[test]
    fn masks_id_numbers() {
        assert_eq!(mask_id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(mask_id_number("11010519491231002x"), "1101**********002x");
        // A 15-digit first-generation ID.
        assert_eq!(mask_id_number("110105491231002"), "11***********02");
        assert_eq!(mask_id_number("12345678"), "12****78");
        assert_eq!(mask_id_number("1234567"), "1*****7");
        assert_eq!(mask_id_number("1234"), "1**4");
        assert_eq!(mask_id_number("123"), "***");
        assert_eq!(mask_id_number("1"), "*");
        assert_eq!(mask_id_number(""), "");
    }

    #[test]
    fn masks_phones() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone(" 13812345678 "), "138****5678");
        assert_eq!(mask_phone("01012345678"), "01*******78");
        assert_eq!(mask_phone("+8613812345678"), "+8**********78");
        assert_eq!(mask_phone("12345"), "1***5");
        assert_eq!(mask_phone("1380013800０"), "13*******0０");
    }

    #[test]
    fn masks_names() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张"), "*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("阿依古丽·买买提"), "阿*******");
        assert_eq!(mask_name("Li Lei"), "L*****");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn masks_never_show_more_than_half() {
        for n in 1..40 {
            let s: String = "证".repeat(n);
            let masked = mask_generic(&s);
            let shown = masked.chars().filter(|&c| c != '*').count();
            assert_eq!(masked.chars().count(), n);
            assert!(masked.contains('*'));
            assert!(2 * shown <= n, "{n}: {masked}");
        }
    }
}
