//! The demo's app side (`yiwang up --demo`): once the platform runs, an enterprise account
//! (`demo-enterprise`) and the departments work a few cases through the gRPC API exactly as the
//! app and a department's system do — files uploaded and attached, materials reviewed, a
//! correction asked for, a licence item approved (its e-licence issued) and delivered by EMS, an
//! application under way, a request answered — so the demo has files, licences, deliveries and,
//! through the real event flow, notifications. Nothing here writes a table directly.

use std::time::Duration;

use tonic::transport::Channel;
use yiwang_kit::auth::mint_token;
use yiwang_proto::cases::v1 as pb;
use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;

/// The enterprise account the demo's app side uses (`yiwang token --sub demo-enterprise --roles
/// enterprise` shows its cases, licences and notifications).
pub const ACCOUNT: &str = "demo-enterprise";
const USCC_FIRST17: &str = "91340522MA2D0001";

/// A licence item (task type 01) legal persons may file online, with its required materials.
pub struct AppItem {
    pub code: String,
    pub department: String,
    pub required_materials: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Walked {
    pub uploads: usize,
    pub cases: usize,
}

/// A one-page PDF: what a scanned form looks like to the content sniffer.
fn pdf(title: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n% {title}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

fn materials(names: Vec<String>, ids: Vec<String>) -> Vec<pb::MaterialRef> {
    names
        .into_iter()
        .zip(ids)
        .map(|(name, upload_id)| pb::MaterialRef { name, upload_id })
        .collect()
}

fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    req.set_timeout(Duration::from_secs(30));
    req
}

/// Works the demo's cases unless the account has some already. `items` are tried in order; two
/// are used. Waits (up to a minute) for the cases service to answer first.
pub async fn walk(cases_url: &str, secret: &str, items: &[AppItem]) -> anyhow::Result<Walked> {
    let channel = Channel::from_shared(cases_url.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let mut cases = CasesServiceClient::new(channel);
    let me = mint_token(
        secret,
        ACCOUNT,
        "含山县示范餐饮有限公司",
        &["enterprise".into()],
        None,
        3600,
    )?;
    let mut waited = 0;
    let mine = loop {
        match cases
            .list_my_cases(authed(&me, pb::ListCasesRequest::default()))
            .await
        {
            Ok(r) => break r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unavailable && waited < 60 => {
                waited += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(s) => anyhow::bail!("the cases service did not answer: {s}"),
        }
    };
    if !mine.cases.is_empty() || items.len() < 2 {
        return Ok(Walked::default());
    }
    let staff = |item: &AppItem| {
        mint_token(
            secret,
            &format!("demo-officer-{}", item.department),
            "示范审批人员",
            &["officer".into()],
            Some(&item.department),
            3600,
        )
    };
    let applicant = pb::Applicant {
        kind: "legal_person".into(),
        name: "含山县示范餐饮有限公司".into(),
        uscc: yiwang_kit::ids::uscc_with_check(&format!("{USCC_FIRST17}0")).unwrap_or_default(),
        phone: "13900000001".into(),
        ..Default::default()
    };
    let mut walked = Walked::default();

    // Files first, as the app sends them: one scan per required material.
    let mut upload = async |name: &str| -> anyhow::Result<String> {
        let parts = vec![
            pb::UploadFileRequest {
                part: Some(pb::upload_file_request::Part::Start(pb::UploadStart {
                    file_name: format!("{name}.pdf"),
                })),
            },
            pb::UploadFileRequest {
                part: Some(pb::upload_file_request::Part::Data(pdf(name))),
            },
            pb::UploadFileRequest {
                part: Some(pb::upload_file_request::Part::End(pb::UploadEnd {
                    size: pdf(name).len() as u64,
                })),
            },
        ];
        let r = cases
            .upload_file(authed(&me, tokio_stream::iter(parts)))
            .await?
            .into_inner();
        walked.uploads += 1;
        Ok(r.id)
    };
    let (approved_item, other_item) = (&items[0], &items[1]);
    let mut ids = Vec::new();
    for m in &approved_item.required_materials {
        ids.push(upload(m).await?);
    }
    let mut ids_b = Vec::new();
    for m in &other_item.required_materials {
        ids_b.push(upload(m).await?);
    }
    let mut file = async |item: &AppItem, given: Vec<pb::MaterialRef>, n: u32| {
        cases
            .file_case(authed(
                &me,
                pb::FileCaseRequest {
                    item_code: item.code.clone(),
                    channel: "mobile".into(),
                    applicant: Some(applicant.clone()),
                    materials: given,
                    request_id: format!("demo-app-{n}"),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner())
    };
    let a = file(
        approved_item,
        materials(approved_item.required_materials.clone(), ids),
        1,
    )
    .await?;
    let b = file(
        other_item,
        materials(other_item.required_materials.clone(), ids_b),
        2,
    )
    .await?;
    let c = file(approved_item, Vec::new(), 3).await?;
    walked.cases = 3;

    let officer_a = staff(approved_item)?;
    let officer_b = staff(other_item)?;
    let act = |id: &str| pb::CaseActionRequest {
        id: id.to_string(),
        ..Default::default()
    };
    // A: every material accepted, accepted, approved (the e-licence), mailed free of charge.
    cases
        .review_materials(authed(
            &officer_a,
            pb::ReviewMaterialsRequest {
                id: a.id.clone(),
                reviews: approved_item
                    .required_materials
                    .iter()
                    .map(|name| pb::MaterialReview {
                        name: name.clone(),
                        status: "accepted".into(),
                        reason: String::new(),
                    })
                    .collect(),
            },
        ))
        .await?;
    cases.accept_case(authed(&officer_a, act(&a.id))).await?;
    cases
        .decide_case(authed(
            &officer_a,
            pb::CaseActionRequest {
                outcome: "approved".into(),
                ..act(&a.id)
            },
        ))
        .await?;
    cases
        .deliver_case(authed(
            &officer_a,
            pb::CaseActionRequest {
                delivery_method: "ems".into(),
                tracking_number: "1180000000001".into(),
                address: "安徽省马鞍山市含山县环峰镇示范路1号".into(),
                free_mailing: true,
                ..act(&a.id)
            },
        ))
        .await?;
    // B: a scan the department cannot read: one correction list (一次性告知).
    if let Some(first) = other_item.required_materials.first() {
        cases
            .review_materials(authed(
                &officer_b,
                pb::ReviewMaterialsRequest {
                    id: b.id.clone(),
                    reviews: vec![pb::MaterialReview {
                        name: first.clone(),
                        status: "rejected".into(),
                        reason: "扫描件模糊，请上传清晰的原件扫描件".into(),
                    }],
                },
            ))
            .await?;
    }
    cases
        .request_correction(authed(&officer_b, act(&b.id)))
        .await?;
    // C: accepted and being handled, its deadline running.
    cases.accept_case(authed(&officer_a, act(&c.id))).await?;

    // A request (诉求) answered by the department.
    let ticket = cases
        .create_ticket(authed(
            &me,
            pb::CreateTicketRequest {
                kind: "enterprise_request".into(),
                subject: "食品经营许可证延续需要哪些材料".into(),
                body: "我公司许可证明年到期，请问延续办理需要准备哪些材料？".into(),
                request_id: "demo-app-ticket-1".into(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let supervisor = mint_token(
        secret,
        "demo-supervisor",
        "示范督办人员",
        &["supervisor".into()],
        None,
        3600,
    )?;
    cases
        .dispatch_ticket(authed(
            &supervisor,
            pb::TicketActionRequest {
                id: ticket.id.clone(),
                department: approved_item.department.clone(),
                reply_working_days: 5,
                ..Default::default()
            },
        ))
        .await?;
    cases
        .reply_ticket(authed(
            &officer_a,
            pb::TicketActionRequest {
                id: ticket.id,
                text: "延续需提交延续申请书和营业执照，可在“一网通办”在线办理。".into(),
                ..Default::default()
            },
        ))
        .await?;
    Ok(walked)
}
