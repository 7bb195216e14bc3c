//! Material files (issue 14): uploads streamed in and recognised by content, sealed at rest,
//! readable only by the uploader and those who see the case naming them in full, named by
//! filings as `{name, upload_id}`, reviewed one by one into the correction list (一次性告知),
//! replaced by a correction, and expired when no case names them.

mod common;

use common::*;
use serde_json::{Value, json};

const DEPT: &str = "340522-SCJGJ";

/// A JPEG as a phone camera writes it: the marker, then bytes, with `mark` inside.
fn jpeg(len: usize, mark: &str) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    b.extend_from_slice(mark.as_bytes());
    let mut x: u32 = 0x1234_5678;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(x as u8);
    }
    b.truncate(len);
    b
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn pdf(mark: &str) -> Vec<u8> {
    format!("%PDF-1.7\n1 0 obj << /Title ({mark}) >> endobj\ntrailer\n%%EOF\n").into_bytes()
}

async fn upload_multipart(
    s: &Stack,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
    declared: &str,
) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(declared)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("note", "ignored")
        .part("file", part);
    let r = s
        .http
        .post(s.url("/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn upload_raw(s: &Stack, token: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(&format!("/v1/uploads?file_name={}", url_escape(name))))
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn download(s: &Stack, token: &str, id: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = s
        .http
        .get(s.url(&format!("/v1/uploads/{id}/content")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let headers = r.headers().clone();
    (st, headers, r.bytes().await.unwrap().to_vec())
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Every object file under the test's store directory, with its bytes.
fn stored_objects(s: &Stack) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(&s.cfg.files.store_url).join("uploads");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_scan_goes_from_upload_to_case_to_correction_readable_only_by_those_entitled() {
    let mut cfg = test_config(10_000).await;
    cfg.files.max_bytes = 3 * 1024 * 1024;
    let s = Stack::start_with(cfg).await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    // The item is an enterprise's licence: its accounts apply.
    let citizen = s.token("enterprise-1", &["enterprise"], None);
    let stranger = s.token("enterprise-2", &["enterprise"], None);
    let clerk = s.token("clerk-a", &["clerk"], Some(DEPT));
    let other_dept = s.token("clerk-b", &["clerk"], Some("340522-GAJ"));
    let supervisor = s.token("supervisor-1", &["supervisor"], None);

    // A 2.5 MB licence photo, declared as anything: the type comes from the content.
    let licence = jpeg(2_500_000, "LICENCE-PHOTO-MARK-7731");
    let (st, up) = upload_multipart(
        &s,
        &citizen,
        "张三 营业执照.jpg",
        licence.clone(),
        "application/x-whatever",
    )
    .await;
    assert_eq!(st, 201, "{up}");
    assert_eq!(up["content_type"], "image/jpeg");
    assert_eq!(up["size"], json!(licence.len()));
    assert_eq!(up["sha256"], json!(sha256_hex(&licence)));
    assert_eq!(up["file_name"], "张三 营业执照.jpg");
    assert_eq!(up["attached"], false);
    assert!(up["expires_at"].is_string(), "{up}");
    let licence_id = up["id"].as_str().unwrap().to_string();
    let (st, up2) = upload_raw(&s, &citizen, "制度.pdf", pdf("RULES-MARK-5512")).await;
    assert_eq!(st, 201, "{up2}");
    assert_eq!(up2["content_type"], "application/pdf");
    let rules_id = up2["id"].as_str().unwrap().to_string();

    // Sealed at rest: neither file's bytes are in the store.
    let objects = stored_objects(&s);
    assert_eq!(objects.len(), 2);
    for o in &objects {
        for mark in ["LICENCE-PHOTO-MARK-7731", "RULES-MARK-5512"] {
            assert!(
                !o.windows(mark.len()).any(|w| w == mark.as_bytes()),
                "{mark} readable at rest"
            );
        }
    }

    // The uploader reads it back, byte for byte, with its name and type; nobody else does.
    let (st, h, body) = download(&s, &citizen, &licence_id).await;
    assert_eq!(st, 200);
    assert_eq!(body, licence);
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename*=UTF-8''%E5%BC%A0%E4%B8%89")
    );
    for who in [&stranger, &clerk, &supervisor] {
        let (st, _, _) = download(&s, who, &licence_id).await;
        assert_eq!(st, 404, "not yet attached: only the uploader");
        let (st, v) = send(
            &s,
            "GET",
            &format!("/v1/uploads/{licence_id}"),
            Some(who),
            None,
        )
        .await;
        assert_eq!(st, 404, "{v}");
    }
    let (st, _) = send(&s, "GET", &format!("/v1/uploads/{licence_id}"), None, None).await;
    assert_eq!(st, 401);
    let (st, _, _) = download(&s, &stranger, "not-a-uuid").await;
    assert_eq!(st, 404);

    // Someone else's upload cannot be named by a filing.
    let applicant = json!({"kind": "legal_person", "name": "含山县好味餐饮有限公司",
        "uscc": uscc("91340522MA2000001"), "phone": "13812345678"});
    let (st, v) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&stranger),
        Some(json!({
        "item_code": item, "channel": "mobile", "applicant": applicant,
        "materials": [{"name": "营业执照", "upload_id": licence_id}]})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v).as_str()),
        (400, "materials[0].upload_id"),
        "{v}"
    );

    // Filed with both files; one of them given twice is one material.
    let (st, c) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&citizen),
        Some(json!({
        "item_code": item, "channel": "mobile", "applicant": applicant,
        "materials": [{"name": "营业执照", "upload_id": licence_id},
                      {"name": "食品安全管理制度", "upload_id": rules_id},
                      "营业执照"]})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["materials"], json!(["营业执照", "食品安全管理制度"]));
    assert_eq!(c["missing_materials"], json!([]));
    let details = c["material_details"].as_array().unwrap();
    assert_eq!(details.len(), 2, "{c}");
    assert_eq!(details[0]["upload_id"], json!(licence_id));
    assert_eq!(details[0]["content_type"], "image/jpeg");
    assert_eq!(details[0]["status"], "provided");
    let (_, up) = send(
        &s,
        "GET",
        &format!("/v1/uploads/{licence_id}"),
        Some(&citizen),
        None,
    )
    .await;
    assert_eq!(up["attached"], true);
    assert!(up.get("expires_at").is_none_or(Value::is_null), "{up}");

    // Now the handling department reads it too; another department and oversight still not.
    let (st, _, body) = download(&s, &clerk, &licence_id).await;
    assert_eq!((st, body.len()), (200, licence.len()));
    for who in [&other_dept, &supervisor, &stranger] {
        let (st, _, _) = download(&s, who, &licence_id).await;
        assert_eq!(st, 404);
    }
    // Oversight sees the case masked, without the materials' files.
    let (_, seen) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(seen["material_details"], json!([]));

    // The department reviews: the photo is unreadable, the rules are fine.
    let review = format!("/v1/cases/{id}/materials/review");
    let (st, v) = send(
        &s,
        "POST",
        &review,
        Some(&clerk),
        Some(json!({"reviews": [
        {"name": "营业执照", "status": "rejected"}]})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v).as_str()),
        (400, "reviews[0].reason"),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "POST",
        &review,
        Some(&clerk),
        Some(json!({"reviews": [
        {"name": "身份证", "status": "accepted"}]})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v).as_str()),
        (400, "reviews[0].name"),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "POST",
        &review,
        Some(&citizen),
        Some(json!({"reviews": [
        {"name": "营业执照", "status": "accepted"}]})),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    let v = post_ok(
        &s,
        &review,
        &clerk,
        json!({"reviews": [
        {"name": "营业执照", "status": "rejected", "reason": "照片模糊，请上传清晰的营业执照副本"},
        {"name": "食品安全管理制度", "status": "accepted"}]}),
    )
    .await;
    let statuses: Vec<(&str, &str)> = v["material_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![("营业执照", "rejected"), ("食品安全管理制度", "accepted")]
    );

    // The correction request needs no typed reason: the list is the reason.
    let v = post_ok(
        &s,
        &format!("/v1/cases/{id}/request-correction"),
        &clerk,
        json!({}),
    )
    .await;
    assert_eq!(v["state"], "correction");
    assert_eq!(
        v["correction_list"],
        json!([{"name": "营业执照", "reason": "照片模糊，请上传清晰的营业执照副本"}])
    );
    let (_, mine) = send(&s, "GET", &format!("/v1/cases/{id}"), Some(&citizen), None).await;
    assert_eq!(mine["correction_list"][0]["name"], "营业执照");
    let (_, history) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}/history"),
        Some(&citizen),
        None,
    )
    .await;
    assert!(history.to_string().contains("照片模糊"), "{history}");

    // The applicant sends a clear photo; it replaces the rejected one and is provided again.
    let clear = jpeg(300_000, "CLEAR-PHOTO");
    let (st, up3) = upload_multipart(
        &s,
        &citizen,
        "营业执照-清晰.jpg",
        clear.clone(),
        "image/jpeg",
    )
    .await;
    assert_eq!(st, 201, "{up3}");
    let clear_id = up3["id"].as_str().unwrap().to_string();
    let v = post_ok(
        &s,
        &format!("/v1/cases/{id}/submit-correction"),
        &citizen,
        json!({
        "materials": [{"name": "营业执照", "upload_id": clear_id}]}),
    )
    .await;
    assert_eq!(v["state"], "received", "{v}");
    assert_eq!(v["correction_list"], json!([]));
    assert_eq!(v["material_details"][0]["upload_id"], json!(clear_id));
    assert_eq!(v["material_details"][0]["status"], "provided");
    assert_eq!(v["material_details"][0]["reason"], "");
    let (st, _, body) = download(&s, &clerk, &clear_id).await;
    assert_eq!((st, body), (200, clear));

    // Names alone (paper at the window, older clients) still work, as strings or objects.
    let (st, c2) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&citizen),
        Some(json!({
        "item_code": item, "channel": "mobile", "applicant": applicant,
        "materials": ["营业执照", {"name": "食品安全管理制度"}]})),
    )
    .await;
    assert_eq!(st, 201, "{c2}");
    assert_eq!(c2["material_details"][1]["upload_id"], "");
    // With everything provided and nothing rejected, a correction request must say why.
    let c2_id = c2["id"].as_str().unwrap();
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/cases/{c2_id}/request-correction"),
        Some(&clerk),
        Some(json!({})),
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "reason"), "{v}");
    s.stop().await;
}

#[tokio::test]
async fn wrong_types_oversize_empty_and_broken_uploads_leave_nothing_behind() {
    let mut cfg = test_config(10_000).await;
    cfg.files.max_bytes = 1024 * 1024;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let citizen = s.token("citizen-1", &["citizen"], None);

    // HTML named and declared as an image is not one.
    let (st, v) = upload_multipart(
        &s,
        &citizen,
        "photo.png",
        b"<html><script>alert(1)</script></html>".to_vec(),
        "image/png",
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (415, "file"), "{v}");
    // A Windows executable renamed .pdf.
    let (st, _) = upload_raw(
        &s,
        &citizen,
        "invoice.pdf",
        b"MZ\x90\x00\x03\x00\x00\x00".repeat(100),
    )
    .await;
    assert_eq!(st, 415);
    let (st, v) = upload_raw(&s, &citizen, "empty.pdf", Vec::new()).await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "file"), "{v}");
    let (st, v) = upload_raw(&s, &citizen, "big.jpg", jpeg(1024 * 1024 + 1, "x")).await;
    assert_eq!((st, violation_field(&v).as_str()), (413, "file"), "{v}");
    let (st, v) = upload_multipart(&s, &citizen, "", jpeg(1000, "x"), "image/jpeg").await;
    assert_eq!(
        (st, violation_field(&v).as_str()),
        (400, "file_name"),
        "{v}"
    );
    let (st, v) = upload_raw(&s, &citizen, "a\u{1}b.jpg", jpeg(1000, "x")).await;
    assert_eq!(
        (st, violation_field(&v).as_str()),
        (400, "file_name"),
        "{v}"
    );
    let r = s
        .http
        .post(s.url("/v1/uploads"))
        .bearer_auth(&citizen)
        .body(jpeg(1000, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a raw body needs ?file_name=");
    let r = s
        .http
        .post(s.url("/v1/uploads"))
        .body(jpeg(1000, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let system = s.token("dept-system", &["system"], None);
    let (st, _) = upload_raw(&s, &system, "a.jpg", jpeg(1000, "x")).await;
    assert_eq!(st, 403);

    // A client that goes away half-way through a 900 KB upload.
    let addr = s.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /v1/uploads?file_name=half.jpg HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {citizen}\r\nContent-Type: image/jpeg\r\nContent-Length: 900000\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.write_all(head.as_bytes()).unwrap();
        tcp.write_all(&jpeg(300_000, "HALF")).unwrap();
        tcp.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    })
    .await
    .unwrap();

    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let mut left = i64::MAX;
    for _ in 0..50 {
        left = sqlx::query_scalar("SELECT count(*) FROM uploads")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 && stored_objects(&s).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "no upload row stays from failed or broken uploads");
    assert!(stored_objects(&s).is_empty(), "no object stays either");

    // An upload no case names expires: row and object go.
    let (st, up) = upload_raw(&s, &citizen, "later.pdf", pdf("LATER")).await;
    assert_eq!(st, 201);
    let id = up["id"].as_str().unwrap().to_string();
    let (st, _, _) = download(&s, &citizen, &id).await;
    assert_eq!(st, 200);
    sqlx::query("UPDATE uploads SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if download(&s, &citizen, &id).await.0 == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "expired upload still readable");
    assert!(stored_objects(&s).is_empty());
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn department_systems_upload_over_grpc_and_an_unfinished_stream_stores_nothing() {
    use yiwang_proto::cases::v1 as pb;
    use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;
    use yiwang_proto::cases::v1::upload_file_request::Part;
    let s = Stack::start().await;
    let clerk = s.token("clerk-a", &["clerk"], Some(DEPT));
    let mut client = CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    let msg = |p: Part| pb::UploadFileRequest { part: Some(p) };
    let data = pdf("GRPC");
    let parts = vec![
        msg(Part::Start(pb::UploadStart {
            file_name: "受理通知书.pdf".into(),
        })),
        msg(Part::Data(data[..10].to_vec())),
        msg(Part::Data(data[10..].to_vec())),
        msg(Part::End(pb::UploadEnd {
            size: data.len() as u64,
        })),
    ];
    let up = client
        .upload_file(authed(&clerk, futures::stream::iter(parts)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (up.content_type.as_str(), up.size),
        ("application/pdf", data.len() as u64)
    );
    let mut read = client
        .read_upload(authed(&clerk, pb::GetUploadRequest { id: up.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    let head = read.message().await.unwrap().unwrap();
    assert_eq!(
        (head.file_name.as_str(), head.size),
        ("受理通知书.pdf", data.len() as u64)
    );
    let mut got = Vec::new();
    while let Some(c) = read.message().await.unwrap() {
        got.extend_from_slice(&c.data);
    }
    assert_eq!(got, data);

    // No `end`: the client stopped early; the size does not match; data before start.
    for (parts, field) in [
        (
            vec![
                msg(Part::Start(pb::UploadStart {
                    file_name: "x.pdf".into(),
                })),
                msg(Part::Data(data.clone())),
            ],
            "end",
        ),
        (
            vec![
                msg(Part::Start(pb::UploadStart {
                    file_name: "x.pdf".into(),
                })),
                msg(Part::Data(data.clone())),
                msg(Part::End(pb::UploadEnd { size: 5 })),
            ],
            "end.size",
        ),
        (vec![msg(Part::Data(data.clone()))], "start"),
    ] {
        let e = client
            .upload_file(authed(&clerk, futures::stream::iter(parts)))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), grpc_violation_field(&e).as_str()),
            (tonic::Code::InvalidArgument, field)
        );
    }
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the finished upload is kept");
    pool.close().await;
    s.stop().await;
}

/// moto's S3 server on a free port, ended (by its pid) when dropped.
struct S3Server {
    child: std::process::Child,
    endpoint: String,
}

impl S3Server {
    async fn start() -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install -r tests/requirements.txt)");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if reqwest::get(&server.endpoint).await.is_ok() {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start within 10 s");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn files_live_in_an_s3_store_as_well() {
    let s3 = S3Server::start().await;
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/yiwang-files", s3.endpoint))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "bucket: {}", r.status());
    let mut cfg = test_config(10_000).await;
    cfg.files.store_url = "s3://yiwang-files/county".into();
    cfg.files.store_options = [
        ("aws_endpoint", s3.endpoint.as_str()),
        ("aws_allow_http", "true"),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let s = Stack::start_with(cfg).await;
    let citizen = s.token("citizen-1", &["citizen"], None);

    // 12 MB: more than two of S3's 5 MiB parts.
    let big = jpeg(12_000_000, "S3-SCAN-MARK-4471");
    let (st, up) = upload_multipart(&s, &citizen, "户口簿.jpg", big.clone(), "image/jpeg").await;
    assert_eq!(st, 201, "{up}");
    assert_eq!(up["sha256"], json!(sha256_hex(&big)));
    let id = up["id"].as_str().unwrap().to_string();
    let (st, h, body) = download(&s, &citizen, &id).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-length"], big.len().to_string().as_str());
    assert!(body == big, "the file comes back byte for byte");

    // In the bucket, under the prefix, sealed.
    let raw = http
        .get(format!("{}/yiwang-files/county/uploads/{id}", s3.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let raw = raw.bytes().await.unwrap();
    assert!(raw.len() > big.len(), "sealed chunks carry tags");
    assert!(!raw.windows(17).any(|w| w == b"S3-SCAN-MARK-4471"));
    let (st, _, _) = download(&s, &s.token("citizen-2", &["citizen"], None), &id).await;
    assert_eq!(st, 404);
    s.stop().await;
}
