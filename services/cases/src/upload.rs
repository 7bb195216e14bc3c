//! Material files (材料文件): uploads streamed in, recognised by content, sealed at rest in the
//! file store (`kit::files`), read back only by the uploader and — once a case names the file —
//! by those who see that case in full (the applicant, the handling department, the receiving
//! window). Files no case names expire.

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::files::{FileStore, SNIFF_BYTES, SealedWriter};
use yiwang_kit::{Caller, Code, Error, Result, to_timestamp};
use yiwang_proto::cases::v1 as pb;
use yiwang_proto::cases::v1::upload_file_request::Part;

use crate::api::{CasesApi, View, view_of};
use crate::case_store;
use crate::material::AAD_FILE_NAME;

/// Who may upload: applicants, clerks filing for them, terminals.
const UPLOADER_ROLES: &[&str] = &[
    roles::CITIZEN,
    roles::ENTERPRISE,
    roles::CLERK,
    roles::OFFICER,
    roles::WINDOW_CLERK,
    roles::TERMINAL,
];

/// Largest `data` message; the gateway sends far smaller ones.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

pub type ChunkStream = ReceiverStream<std::result::Result<pb::FileChunk, Status>>;

/// The file store and its limits.
pub struct Files {
    pub store: FileStore,
    pub max_bytes: u64,
    pub ttl_hours: u32,
}

#[derive(sqlx::FromRow)]
struct UploadRow {
    id: Uuid,
    owner_sub: String,
    file_name_sealed: Vec<u8>,
    state: String,
    content_type: String,
    size_bytes: i64,
    sha256: String,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    attached: bool,
}

fn object_name(id: Uuid) -> String {
    format!("uploads/{id}")
}

fn not_found(id: &str) -> Error {
    Error::not_found("UPLOAD_NOT_FOUND", format!("upload {id} does not exist"))
}

async fn load(pool: &sqlx::PgPool, id: Uuid) -> Result<Option<UploadRow>> {
    Ok(sqlx::query_as::<_, UploadRow>(
        "SELECT id, owner_sub, file_name_sealed, state, content_type, size_bytes, sha256, created_at,
                expires_at, EXISTS (SELECT 1 FROM case_materials m WHERE m.upload_id = u.id) AS attached
         FROM uploads u WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// The name a client gives, as kept: the last path segment, trimmed, 1–200 characters, no
/// control characters.
fn clean_file_name(raw: &str) -> Result<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "file_name",
            "must be a file name of 1 to 200 characters without control characters",
        ));
    }
    Ok(name.to_string())
}

fn unsupported() -> Error {
    Error::new(
        Code::UnsupportedMediaType,
        "UNSUPPORTED_MEDIA_TYPE",
        "file: must be a PDF, JPEG, PNG or OFD file (recognised from its content, not its name or declared type)",
    )
    .with_violation(
        "file",
        "must be a PDF, JPEG, PNG or OFD file (recognised from its content)",
    )
}

impl CasesApi {
    fn upload_to_pb(&self, u: &UploadRow) -> pb::Upload {
        pb::Upload {
            id: u.id.to_string(),
            file_name: self
                .key
                .open(&u.file_name_sealed, AAD_FILE_NAME)
                .unwrap_or_default(),
            content_type: u.content_type.clone(),
            size: u.size_bytes.max(0) as u64,
            sha256: u.sha256.clone(),
            created_at: Some(to_timestamp(u.created_at)),
            expires_at: u.expires_at.map(to_timestamp),
            attached: u.attached,
        }
    }

    /// The upload if the caller may read it: its uploader, or whoever sees a case naming it in
    /// full. Everyone else is told it does not exist.
    async fn readable(&self, caller: &Caller, id: &str) -> Result<UploadRow> {
        caller.require_authenticated()?;
        let uuid = Uuid::parse_str(id).map_err(|_| not_found(id))?;
        let u = load(&self.pool, uuid)
            .await?
            .filter(|u| u.state == "stored")
            .ok_or_else(|| not_found(id))?;
        if u.owner_sub == caller.sub {
            return Ok(u);
        }
        if u.attached {
            let cases = case_store::naming_upload(&self.pool, uuid).await?;
            if cases.iter().any(|c| view_of(caller, c) == Some(View::Full)) {
                return Ok(u);
            }
        }
        Err(not_found(id))
    }

    pub(crate) async fn upload_file_rpc(
        &self,
        req: Request<Streaming<pb::UploadFileRequest>>,
    ) -> std::result::Result<Response<pb::Upload>, Status> {
        let caller = Caller::of(&req);
        caller.require_any_role(UPLOADER_ROLES)?;
        let mut stream = req.into_inner();
        let start = match stream.message().await? {
            Some(pb::UploadFileRequest {
                part: Some(Part::Start(s)),
            }) => s,
            _ => {
                return Err(Error::invalid(
                    "start",
                    "the first message must name the file (start.file_name)",
                )
                .into());
            }
        };
        let file_name = clean_file_name(&start.file_name)?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO uploads (id, owner_sub, file_name_sealed, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
        )
        .bind(id)
        .bind(&caller.sub)
        .bind(self.key.seal(&file_name, AAD_FILE_NAME))
        .bind(self.files.ttl_hours as i32)
        .execute(&self.pool)
        .await
        .map_err(Error::from)?;
        let name = object_name(id);
        let stored = async {
            let mut w = self.files.store.create(&name).await?;
            match self.receive(&mut stream, &mut w).await {
                Ok(kind) => Ok((kind, w.finish().await?)),
                Err(e) => {
                    w.abort().await;
                    Err(e)
                }
            }
        }
        .await;
        let (kind, written) = match stored {
            Ok(s) => s,
            Err(e) => {
                // Nothing half-written stays behind: the row goes with the object.
                let _ = sqlx::query("DELETE FROM uploads WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await;
                return Err(e.into());
            }
        };
        sqlx::query(
            "UPDATE uploads SET state = 'stored', content_type = $2, size_bytes = $3, sha256 = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(kind)
        .bind(written.size as i64)
        .bind(&written.sha256)
        .execute(&self.pool)
        .await
        .map_err(Error::from)?;
        tracing::info!(upload = %id, content_type = kind, size = written.size, "file uploaded");
        let u = load(&self.pool, id)
            .await?
            .ok_or_else(|| Error::internal("upload vanished"))?;
        Ok(Response::new(self.upload_to_pb(&u)))
    }

    /// Takes the file's bytes until its `end`; the type is recognised from the first bytes.
    async fn receive(
        &self,
        stream: &mut Streaming<pb::UploadFileRequest>,
        w: &mut SealedWriter,
    ) -> Result<&'static str> {
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut kind = None;
        loop {
            let part = match stream.message().await {
                Ok(Some(m)) => m.part,
                Ok(None) => {
                    return Err(Error::invalid(
                        "end",
                        "the stream ended before the file was complete; nothing was stored",
                    ));
                }
                Err(s) => return Err(Error::from_status(&s)),
            };
            match part {
                Some(Part::Data(data)) => {
                    if data.len() > MAX_MESSAGE_BYTES {
                        return Err(Error::invalid("data", "each message carries at most 1 MiB"));
                    }
                    if w.size() + data.len() as u64 > self.files.max_bytes {
                        return Err(too_large(self.files.max_bytes));
                    }
                    if kind.is_none() {
                        let take = (SNIFF_BYTES - head.len()).min(data.len());
                        head.extend_from_slice(&data[..take]);
                        if head.len() == SNIFF_BYTES {
                            kind = Some(yiwang_kit::files::sniff(&head).ok_or_else(unsupported)?);
                        }
                    }
                    w.push(&data).await?;
                }
                Some(Part::End(end)) => {
                    if w.size() == 0 {
                        return Err(Error::invalid("file", "is empty"));
                    }
                    if end.size != w.size() {
                        return Err(Error::invalid(
                            "end.size",
                            format!("says {} bytes but {} arrived", end.size, w.size()),
                        ));
                    }
                    return match kind {
                        Some(k) => Ok(k),
                        None => yiwang_kit::files::sniff(&head).ok_or_else(unsupported),
                    };
                }
                Some(Part::Start(_)) => {
                    return Err(Error::invalid("start", "comes once, as the first message"));
                }
                None => return Err(Error::invalid("part", "must be start, data or end")),
            }
        }
    }

    pub(crate) async fn get_upload_rpc(
        &self,
        req: Request<pb::GetUploadRequest>,
    ) -> std::result::Result<Response<pb::Upload>, Status> {
        let caller = Caller::of(&req);
        let u = self.readable(&caller, &req.get_ref().id).await?;
        Ok(Response::new(self.upload_to_pb(&u)))
    }

    pub(crate) async fn read_upload_rpc(
        &self,
        req: Request<pb::GetUploadRequest>,
    ) -> std::result::Result<Response<ChunkStream>, Status> {
        let caller = Caller::of(&req);
        let u = self.readable(&caller, &req.get_ref().id).await?;
        let mut reader = self
            .files
            .store
            .open_file(&object_name(u.id))
            .await?
            .ok_or_else(|| {
                tracing::error!(upload = %u.id, "stored upload has no object");
                not_found(&req.get_ref().id)
            })?;
        tracing::info!(upload = %u.id, reader = %caller.sub, "file read");
        let head = pb::FileChunk {
            data: Vec::new(),
            content_type: u.content_type.clone(),
            file_name: self
                .key
                .open(&u.file_name_sealed, AAD_FILE_NAME)
                .unwrap_or_default(),
            size: u.size_bytes.max(0) as u64,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            // The first message says what the file is; then its bytes. Ends early when the
            // reader hangs up (the channel closes).
            if tx.send(Ok(head)).await.is_err() {
                return;
            }
            loop {
                let next = match reader.next_chunk().await {
                    Ok(Some(data)) => Ok(pb::FileChunk {
                        data: data.to_vec(),
                        ..Default::default()
                    }),
                    Ok(None) => return,
                    Err(e) => Err(Status::from(e)),
                };
                let failed = next.is_err();
                if tx.send(next).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn too_large(max: u64) -> Error {
    Error::too_large("file", format!("must be at most {max} bytes"))
}

/// Deletes uploads no case names once they expire (and uploads abandoned mid-way), object
/// first, then row, under the row's lock: a filing naming one at the same moment either
/// attaches it first (and it stays) or finds it gone.
pub async fn sweep_expired(pool: &sqlx::PgPool, store: &FileStore) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM uploads u WHERE expires_at < now()
           AND NOT EXISTS (SELECT 1 FROM case_materials m WHERE m.upload_id = u.id)
         ORDER BY expires_at LIMIT 200 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    for id in &ids {
        store.delete(&object_name(*id)).await?;
    }
    sqlx::query("DELETE FROM uploads WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_their_last_segment() {
        assert_eq!(
            clean_file_name("C:\\证件\\张三身份证.jpg").unwrap(),
            "张三身份证.jpg"
        );
        assert_eq!(clean_file_name("../../etc/passwd").unwrap(), "passwd");
        assert!(clean_file_name("a/").is_err());
        assert!(clean_file_name("a\u{0}b").is_err());
        assert!(clean_file_name(&"长".repeat(201)).is_err());
    }
}
