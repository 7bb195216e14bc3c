//! Material files through the edge, streamed both ways: `POST /v1/uploads` passes the file to
//! the cases service's client-streaming `UploadFile` piece by piece as it arrives
//! (`multipart/form-data` with a part `file`, or the raw bytes with `?file_name=`), and
//! `GET /v1/uploads/{id}/content` passes `ReadUpload`'s chunks on as the response body. Neither
//! holds a file in memory; the size limit is counted on the way through.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, RawPathParams, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use yiwang_kit::Error;
use yiwang_proto::cases::v1 as pb;
use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;
use yiwang_proto::cases::v1::upload_file_request::Part;

use crate::AppState;
use crate::extract::{Ctx, upstream};

/// Pieces sent on to the service.
const PIECE: usize = 64 * 1024;
/// How long one upload or download may take end to end (slow mobile networks).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

fn cases(s: &AppState) -> Result<CasesServiceClient<tonic::transport::Channel>, Error> {
    let channel = s
        .channel_for("yiwang.cases.v1")
        .ok_or_else(|| Error::unavailable("no upstream for files"))?;
    Ok(CasesServiceClient::new(channel))
}

fn too_large(max: u64) -> Error {
    Error::too_large("file", format!("must be at most {max} bytes"))
}

pub async fn upload(State(s): State<AppState>, req: Request) -> Response {
    match upload_file(&s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn upload_file(s: &AppState, req: Request) -> Result<Response, Error> {
    let (mut parts, body) = req.into_parts();
    let ctx =
        <Ctx as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &()).await?;
    crate::rest::authorize(&ctx.caller, "yiwang.cases.v1.CasesService.UploadFile")?;
    let query_name = parts.uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "file_name")
            .map(|(_, v)| v)
    });
    let is_multipart = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let req = Request::from_parts(parts, body);
    let max = s.upload_max_bytes;

    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadFileRequest>(2);
    let mut client = cases(s)?;
    let mut call_req = ctx.grpc(ReceiverStream::new(rx));
    call_req.set_timeout(TRANSFER_TIMEOUT);
    let mut call = Some(tokio::spawn(
        async move { client.upload_file(call_req).await },
    ));
    let abort = |call: &mut Option<tokio::task::JoinHandle<_>>| {
        if let Some(c) = call.take() {
            c.abort();
        }
    };

    // Pumps one body stream into the call; `Ok(false)` when the service stopped listening (it
    // has answered, with the reason).
    async fn pump<S, E>(
        tx: &tokio::sync::mpsc::Sender<pb::UploadFileRequest>,
        mut stream: S,
        size: &mut u64,
        max: u64,
    ) -> Result<bool, Error>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::info!(error = %e, "upload body broke off");
                Error::invalid("file", "the upload broke off before the file was complete")
            })?;
            *size += chunk.len() as u64;
            if *size > max {
                return Err(too_large(max));
            }
            for piece in chunk.chunks(PIECE) {
                let part = Some(Part::Data(piece.to_vec()));
                if tx.send(pb::UploadFileRequest { part }).await.is_err() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    let mut size = 0u64;
    let start = |name: String| pb::UploadFileRequest {
        part: Some(Part::Start(pb::UploadStart { file_name: name })),
    };
    let pumped = if is_multipart {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|_| Error::invalid("body", "is not multipart/form-data with a boundary"))?;
        let mut result = Err(Error::invalid(
            "file",
            "is required: a multipart part named file (with its filename)",
        ));
        loop {
            let field = match form.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    abort(&mut call);
                    return Err(Error::invalid(
                        "body",
                        format!("is not well-formed multipart/form-data: {}", e.body_text()),
                    ));
                }
            };
            if field.name() != Some("file") {
                continue;
            }
            let name = field
                .file_name()
                .map(str::to_string)
                .or(query_name.clone())
                .unwrap_or_default();
            let _ = tx.send(start(name)).await;
            result = pump(&tx, Box::pin(field), &mut size, max).await;
            break;
        }
        result
    } else {
        let Some(name) = query_name else {
            abort(&mut call);
            return Err(Error::invalid(
                "file_name",
                "is required with a raw body (POST /v1/uploads?file_name=…), or send multipart/form-data",
            ));
        };
        let _ = tx.send(start(name)).await;
        pump(&tx, req.into_body().into_data_stream(), &mut size, max).await
    };
    match pumped {
        Err(e) => {
            // Dropping the call breaks the stream off: the service stores nothing.
            abort(&mut call);
            return Err(e);
        }
        Ok(true) => {
            let _ = tx
                .send(pb::UploadFileRequest {
                    part: Some(Part::End(pb::UploadEnd { size })),
                })
                .await;
        }
        Ok(false) => {}
    }
    drop(tx);
    let answer = call
        .take()
        .expect("the call runs until here")
        .await
        .map_err(|_| Error::unavailable("the upload was interrupted; retry"))?
        .map_err(upstream)?
        .into_inner();
    let body = crate::rest::message_json(&answer, "yiwang.cases.v1.Upload")?;
    Ok((
        http::StatusCode::CREATED,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

pub async fn download(State(s): State<AppState>, req: Request) -> Response {
    match read_file(&s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn read_file(s: &AppState, req: Request) -> Result<Response, Error> {
    let (mut parts, _) = req.into_parts();
    let ctx =
        <Ctx as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &()).await?;
    crate::rest::authorize(&ctx.caller, "yiwang.cases.v1.CasesService.ReadUpload")?;
    let params =
        <RawPathParams as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &())
            .await
            .map_err(|_| Error::invalid("path", "must be valid percent-encoded UTF-8"))?;
    let id = params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    if id.len() > crate::rest::MAX_PATH_VALUE_BYTES {
        return Err(Error::invalid("id", "must be at most 128 characters"));
    }
    let mut call_req = ctx.grpc(pb::GetUploadRequest { id });
    call_req.set_timeout(TRANSFER_TIMEOUT);
    let mut stream = cases(s)?
        .read_upload(call_req)
        .await
        .map_err(upstream)?
        .into_inner();
    let head = stream
        .message()
        .await
        .map_err(upstream)?
        .ok_or_else(|| Error::internal("a file read answered nothing"))?;
    let body = Body::from_stream(stream.map(|chunk| {
        chunk
            .map(|c| Bytes::from(c.data))
            .map_err(|status| std::io::Error::other(status.message().to_string()))
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let content_type = http::HeaderValue::from_str(&head.content_type)
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    headers.insert(http::header::CONTENT_TYPE, content_type);
    headers.insert(http::header::CONTENT_LENGTH, head.size.into());
    if let Ok(v) = http::HeaderValue::from_str(&content_disposition(&head.file_name)) {
        headers.insert(http::header::CONTENT_DISPOSITION, v);
    }
    // A scan is personal data: no shared cache keeps it, no browser guesses another type.
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// `attachment` with the name as RFC 6266 wants it: an ASCII fallback and the UTF-8 name
/// percent-encoded (RFC 8187).
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_travel_in_both_forms() {
        assert_eq!(
            super::content_disposition("张三 身份证.jpg"),
            "attachment; filename=\"__ ___.jpg\"; filename*=UTF-8''%E5%BC%A0%E4%B8%89%20%E8%BA%AB%E4%BB%BD%E8%AF%81.jpg"
        );
        assert_eq!(
            super::content_disposition("a\"b.pdf"),
            "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%22b.pdf"
        );
    }
}
