//! Opaque keyset page tokens (AIP-158). A token carries the sort key of the last row served and a
//! fingerprint of the query's filters; a token replayed with other filters is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

/// Validates `page_size`: negative is an error, 0 means the default, above the maximum is capped.
pub fn page_size(requested: i32) -> Result<i64> {
    match requested {
        n if n < 0 => Err(Error::invalid(
            "page_size",
            format!("must be between 0 and {MAX_PAGE_SIZE} (0 = default {DEFAULT_PAGE_SIZE})"),
        )),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as i64).min(MAX_PAGE_SIZE)),
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope<K> {
    /// Fingerprint of the filters.
    f: u64,
    /// Keyset position: the sort key of the last row served.
    k: K,
}

/// FNV-1a over the filter values: stable across processes and versions.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

pub fn encode<K: Serialize>(filters: u64, key: &K) -> String {
    let json = serde_json::to_vec(&Envelope { f: filters, k: key }).expect("keys serialize");
    URL_SAFE_NO_PAD.encode(json)
}

/// `None` for the first page (empty token).
pub fn decode<K: DeserializeOwned>(token: &str, filters: u64) -> Result<Option<K>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::invalid(
            "page_token",
            "is not a page token of this query (it is malformed, or the filters changed)",
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| bad())?;
    let env: Envelope<K> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if env.f != filters {
        return Err(bad());
    }
    Ok(Some(env.k))
}

/// Cuts `rows` (fetched with `limit + 1`) to `limit` and returns the token of the next page, or
/// `""` when this was the last.
pub fn next_token<T, K: Serialize>(
    rows: &mut Vec<T>,
    limit: i64,
    filters: u64,
    key: impl Fn(&T) -> K,
) -> String {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| encode(filters, &key(r)))
            .unwrap_or_default()
    } else {
        String::new()
    }
}

/// The position a newest-first listing ordered by `(created_at DESC, id DESC)` resumes after:
/// `(None, None)` for the first page.
pub fn decode_newest_first(
    token: &str,
    filters: u64,
) -> Result<(Option<chrono::DateTime<chrono::Utc>>, Option<uuid::Uuid>)> {
    Ok(match decode::<(i64, uuid::Uuid)>(token, filters)? {
        Some((micros, id)) => (chrono::DateTime::from_timestamp_micros(micros), Some(id)),
        None => (None, None),
    })
}

/// The key [`decode_newest_first`] reads back, for [`next_token`].
pub fn newest_first_key(
    created_at: chrono::DateTime<chrono::Utc>,
    id: uuid::Uuid,
) -> (i64, uuid::Uuid) {
    (created_at.timestamp_micros(), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bind_to_filters() {
        let f = fingerprint(&["dept-1", ""]);
        let t = encode(f, &(1, "ABC".to_string()));
        assert_eq!(
            decode::<(i32, String)>(&t, f).unwrap(),
            Some((1, "ABC".to_string()))
        );
        assert!(decode::<(i32, String)>(&t, fingerprint(&["dept-2", ""])).is_err());
        assert!(decode::<(i32, String)>("%%%", f).is_err());
        assert_eq!(decode::<(i32, String)>("", f).unwrap(), None);
        assert!(page_size(-1).is_err());
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
    }
}
