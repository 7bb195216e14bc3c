//! Files at rest (material scans: ID cards, licences, contracts): sealed chunk by chunk and kept
//! in object storage — a local directory by default (`yiwang up` needs nothing more) or any S3
//! API (MinIO in docker-compose), through `object_store`, the Apache Arrow project's crate.
//!
//! Sealed object format, version 1:
//! `"YWF1" || nonce prefix (19 bytes) || chunk₀ || chunk₁ || …`, where every chunk is 64 KiB of
//! plaintext (the last one 0–64 KiB) sealed with XChaCha20-Poly1305 under the data key's file
//! subkey, in the STREAM construction (RustCrypto `aead-stream`, big-endian 32-bit counter and
//! a last-chunk flag in the nonce). The associated data of every chunk is
//! `"yiwang file v1" || object name`, so a file copied under another name does not open, and a
//! truncated, reordered or extended object fails to authenticate instead of reading short.
//!
//! Neither writing nor reading holds a file in memory: plaintext goes through one chunk
//! buffer, and the store receives parts of [`FileStore::part_bytes`] with at most one more in
//! flight.

use std::sync::Arc;

use aead_stream::{DecryptorBE32, EncryptorBE32};
use bytes::{Bytes, BytesMut};
use chacha20poly1305::XChaCha20Poly1305;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::crypto::DataKey;

const MAGIC: &[u8; 4] = b"YWF1";
const NONCE_PREFIX_LEN: usize = 19;
const HEADER_LEN: usize = MAGIC.len() + NONCE_PREFIX_LEN;
/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const SEALED_CHUNK: usize = CHUNK + TAG_LEN;
const AAD_LABEL: &[u8] = b"yiwang file v1";

/// Where files are kept, and the key they are sealed with.
#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    key: DataKey,
    part_bytes: usize,
    describe: String,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("store", &self.describe)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// The store `url` names: `s3://bucket[/prefix]` (with `options`, the `aws_*` settings
    /// `object_store` knows: endpoint, region, keys, `aws_allow_http`), `file:///path` or a
    /// plain directory path, created if missing.
    pub fn open(url: &str, options: &[(String, String)], key: DataKey) -> anyhow::Result<Self> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("s3://") {
            let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(url);
            for (k, v) in options {
                let config_key = k.to_ascii_lowercase().parse().map_err(|_| {
                    anyhow::anyhow!(
                        "object store option {k:?} is not an S3 setting object_store knows"
                    )
                })?;
                builder = builder.with_config(config_key, v);
            }
            let store = builder
                .build()
                .map_err(|e| anyhow::anyhow!("YIWANG_OBJECT_STORE={url}: {e}"))?;
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    store,
                    prefix.trim_matches('/'),
                ))
            };
            return Ok(Self {
                store,
                key,
                // S3 refuses parts under 5 MiB (but the last).
                part_bytes: 5 * 1024 * 1024,
                describe: format!("s3://{bucket}"),
            });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if dir.is_empty() {
            anyhow::bail!("YIWANG_OBJECT_STORE is empty: give a directory or s3://bucket");
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("YIWANG_OBJECT_STORE={dir}: cannot create it: {e}"))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| anyhow::anyhow!("YIWANG_OBJECT_STORE={dir}: {e}"))?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            key,
            part_bytes: 256 * 1024,
            describe: format!("directory {dir}"),
        })
    }

    /// Bytes of each part handed to the store (the memory one upload holds at most twice).
    pub fn part_bytes(&self) -> usize {
        self.part_bytes
    }

    /// Starts writing the object `name` (e.g. `uploads/<uuid>`).
    pub async fn create(&self, name: &str) -> Result<SealedWriter, Error> {
        let location = Path::parse(name).map_err(Error::internal)?;
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(store_error)?;
        let mut nonce = [0u8; NONCE_PREFIX_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        out.write(MAGIC);
        out.write(&nonce);
        Ok(SealedWriter {
            out,
            seal: EncryptorBE32::from_aead(self.key.file_aead().clone(), &nonce.into()),
            aad: aad(name),
            pending: Vec::with_capacity(CHUNK + TAG_LEN),
            sha: Sha256::new(),
            size: 0,
        })
    }

    /// Opens the object `name` for reading; `None` when there is no such object.
    pub async fn open_file(&self, name: &str) -> Result<Option<SealedReader>, Error> {
        let location = Path::parse(name).map_err(Error::internal)?;
        let got = match self.store.get(&location).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(e)),
        };
        Ok(Some(SealedReader {
            inner: got.into_stream(),
            open: None,
            key: self.key.file_aead().clone(),
            aad: aad(name),
            buf: BytesMut::new(),
            done: false,
        }))
    }

    /// Removes the object `name`; a missing object is no error.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let location = Path::parse(name).map_err(Error::internal)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }
}

fn aad(name: &str) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// An unreachable or failing store is retryable; the message names no path or key.
fn store_error(e: object_store::Error) -> Error {
    tracing::warn!(error = %e, "object store");
    Error::unavailable("the file store is not available; retry shortly")
}

/// What a finished write stored.
#[derive(Debug, Clone)]
pub struct Written {
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, lowercase hex.
    pub sha256: String,
}

/// A file being written: [`push`](Self::push) plaintext as it arrives, then
/// [`finish`](Self::finish), or [`abort`](Self::abort) to leave nothing behind.
pub struct SealedWriter {
    out: WriteMultipart,
    seal: EncryptorBE32<XChaCha20Poly1305>,
    aad: Vec<u8>,
    /// Plaintext not sealed yet: the last chunk is sealed differently, so one full chunk is
    /// held back until more data (or the end) shows whether it is the last.
    pending: Vec<u8>,
    sha: Sha256,
    size: u64,
}

impl SealedWriter {
    /// Plaintext bytes pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn push(&mut self, mut data: &[u8]) -> Result<(), Error> {
        self.size += data.len() as u64;
        self.sha.update(data);
        while !data.is_empty() {
            if self.pending.len() == CHUNK {
                // More data follows: the held chunk is not the last.
                let mut chunk =
                    std::mem::replace(&mut self.pending, Vec::with_capacity(SEALED_CHUNK));
                self.seal
                    .encrypt_next_in_place(&self.aad, &mut chunk)
                    .map_err(|_| Error::internal("file too long to seal"))?;
                self.out.write(&chunk);
                self.out.wait_for_capacity(1).await.map_err(store_error)?;
            }
            let take = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Written, Error> {
        let mut last = std::mem::take(&mut self.pending);
        self.seal
            .encrypt_last_in_place(&self.aad, &mut last)
            .map_err(|_| Error::internal("file too long to seal"))?;
        self.out.write(&last);
        self.out.finish().await.map_err(store_error)?;
        Ok(Written {
            size: self.size,
            sha256: hex(&self.sha.finalize()),
        })
    }

    pub async fn abort(self) {
        if let Err(e) = self.out.abort().await {
            tracing::warn!(error = %e, "object store: aborting an upload");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored file read back: [`next_chunk`](Self::next_chunk) yields plaintext up to 64 KiB at a
/// time, each chunk authenticated before it is handed out.
pub struct SealedReader {
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    open: Option<DecryptorBE32<XChaCha20Poly1305>>,
    key: XChaCha20Poly1305,
    aad: Vec<u8>,
    buf: BytesMut,
    done: bool,
}

impl SealedReader {
    /// The next plaintext chunk; `None` at the authenticated end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let corrupt = || {
            Error::internal("stored file does not authenticate (tampered, truncated or wrong key)")
        };
        loop {
            if self.done {
                return Ok(None);
            }
            if self.open.is_none() && self.buf.len() >= HEADER_LEN {
                if &self.buf[..MAGIC.len()] != MAGIC {
                    return Err(corrupt());
                }
                let header = self.buf.split_to(HEADER_LEN);
                let nonce: [u8; NONCE_PREFIX_LEN] =
                    header[MAGIC.len()..].try_into().map_err(|_| corrupt())?;
                self.open = Some(DecryptorBE32::from_aead(self.key.clone(), &nonce.into()));
            }
            // A full sealed chunk with more behind it is not the last.
            if let Some(open) = self.open.as_mut()
                && self.buf.len() > SEALED_CHUNK
            {
                let mut chunk = self.buf.split_to(SEALED_CHUNK).to_vec();
                open.decrypt_next_in_place(&self.aad, &mut chunk)
                    .map_err(|_| corrupt())?;
                return Ok(Some(Bytes::from(chunk)));
            }
            match self.inner.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(store_error(e)),
                None => {
                    self.done = true;
                    let open = self.open.take().ok_or_else(corrupt)?;
                    let mut last = self.buf.split().to_vec();
                    open.decrypt_last_in_place(&self.aad, &mut last)
                        .map_err(|_| corrupt())?;
                    return Ok((!last.is_empty()).then(|| Bytes::from(last)));
                }
            }
        }
    }
}

/// The content types a material file may have, recognised from its first bytes (never from
/// what the client declares): PDF, JPEG, PNG and OFD (GB/T 33190, a ZIP package whose root
/// holds `OFD.xml`).
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(b"PK\x03\x04") && ofd_entry(head) {
        Some("application/ofd")
    } else {
        None
    }
}

/// Bytes [`sniff`] needs to decide (an OFD package's first entry name included).
pub const SNIFF_BYTES: usize = 512;

/// Whether a ZIP package's first local entry is the OFD entry file (`OFD.xml`), as GB/T 33190
/// packages are written.
fn ofd_entry(head: &[u8]) -> bool {
    if head.len() < 30 {
        return false;
    }
    let name_len = u16::from_le_bytes([head[26], head[27]]) as usize;
    head.get(30..30 + name_len)
        .is_some_and(|name| name.eq_ignore_ascii_case(b"OFD.xml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (FileStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("yiwang-files-{}", uuid::Uuid::new_v4()));
        let s = FileStore::open(dir.to_str().unwrap(), &[], DataKey::development()).unwrap();
        (s, dir)
    }

    async fn read_all(s: &FileStore, name: &str) -> Result<Vec<u8>, Error> {
        let mut r = s.open_file(name).await?.expect("stored");
        let mut out = Vec::new();
        while let Some(c) = r.next_chunk().await? {
            assert!(c.len() <= CHUNK);
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn files_of_every_length_round_trip_sealed() {
        let (s, dir) = store().await;
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 77] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let name = format!("uploads/{len}");
            let mut w = s.create(&name).await.unwrap();
            // Odd pieces, as a network delivers them.
            for piece in data.chunks(10_007) {
                w.push(piece).await.unwrap();
            }
            let written = w.finish().await.unwrap();
            assert_eq!(written.size, len as u64);
            assert_eq!(written.sha256, hex(&Sha256::digest(&data)));
            assert_eq!(read_all(&s, &name).await.unwrap(), data, "length {len}");
            // Sealed at rest: the plaintext's bytes are not in the object.
            let raw = std::fs::read(dir.join("uploads").join(len.to_string())).unwrap();
            assert_eq!(&raw[..4], MAGIC);
            if len >= 64 {
                assert!(!raw.windows(64).any(|w| w == &data[..64]));
            }
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn tampered_truncated_or_moved_files_do_not_open() {
        let (s, dir) = store().await;
        let data = vec![7u8; 2 * CHUNK + 10];
        let mut w = s.create("uploads/a").await.unwrap();
        w.push(&data).await.unwrap();
        w.finish().await.unwrap();
        let path = dir.join("uploads").join("a");
        let raw = std::fs::read(&path).unwrap();

        // Truncated at a chunk boundary: the last chunk is missing, not silently short.
        std::fs::write(&path, &raw[..HEADER_LEN + SEALED_CHUNK]).unwrap();
        assert!(read_all(&s, "uploads/a").await.is_err());
        // One bit flipped.
        let mut flipped = raw.clone();
        flipped[HEADER_LEN + 100] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(read_all(&s, "uploads/a").await.is_err());
        // The same bytes under another name.
        std::fs::write(&path, &raw).unwrap();
        std::fs::write(dir.join("uploads").join("b"), &raw).unwrap();
        assert!(read_all(&s, "uploads/b").await.is_err());
        assert_eq!(read_all(&s, "uploads/a").await.unwrap(), data);
        // Another key.
        let other = FileStore::open(
            dir.to_str().unwrap(),
            &[],
            DataKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap(),
        )
        .unwrap();
        assert!(read_all(&other, "uploads/a").await.is_err());
        s.delete("uploads/a").await.unwrap();
        assert!(s.open_file("uploads/a").await.unwrap().is_none());
        s.delete("uploads/a").await.unwrap();
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn types_come_from_content() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        let mut ofd = b"PK\x03\x04".to_vec();
        ofd.extend_from_slice(&[0; 22]);
        ofd.extend_from_slice(&7u16.to_le_bytes());
        ofd.extend_from_slice(&[0, 0]);
        ofd.extend_from_slice(b"OFD.xml<?xml");
        assert_eq!(sniff(&ofd), Some("application/ofd"));
        // Any other ZIP (a .docx) is not an OFD.
        let mut docx = ofd.clone();
        docx[30..37].copy_from_slice(b"[Conten");
        assert_eq!(sniff(&docx), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        assert_eq!(sniff(b""), None);
    }
}
