//! The gRPC API (yiwang.alerts.v1.AlertsService): ingest, incidents, the asset register.
//!
//! Who may: the platform (`system`) and `secops` ingest; `secops` see every incident and manage
//! the register; a unit's staff (`officer` with the unit as `dept`) see only their unit's
//! incidents. Anyone else is told an incident does not exist.

use std::pin::Pin;
use std::sync::Arc;

use chrono::Duration;
use futures::{Stream, StreamExt};
use sqlx::PgPool;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, from_timestamp, to_timestamp};
use yiwang_proto::alerts::v1 as pb;
use yiwang_proto::alerts::v1::alerts_service_server::AlertsService;

use tonic::transport::Channel;
use yiwang_kit::config::AlertsConfig;
use yiwang_proto::cases::v1 as cases_pb;
use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;

use yiwang_kit::net::{overlaps, parse_cidr};

use crate::event::{self, MAX_BATCH};
use crate::incident::{self, AssetRow, Filter, IncidentRow};
use crate::ingest::{self, Partitions};
use crate::notice::{self, BlockRow, NewBlock, NoticeRow, Step};

pub struct AlertsApi {
    pub pool: PgPool,
    /// Where listings and statistics are read (a replica when one is configured).
    pub reads: yiwang_kit::db::Reads,
    pub partitions: Arc<Partitions>,
    /// Notice deadlines are computed by the cases service's legal calendar (one calendar for
    /// the whole platform, edited in one place).
    pub cases: CasesServiceClient<Channel>,
    pub settings: AlertsConfig,
}

/// May feed events.
const INGEST_ROLES: &[&str] = &[roles::SECOPS, roles::SYSTEM];
/// See every incident, manage the register.
const SECOPS_ROLES: &[&str] = &[roles::SECOPS];
/// A unit's own staff.
const UNIT_ROLES: &[&str] = &[roles::OFFICER, roles::CLERK];

type Reply<T> = Result<Response<T>, Status>;

/// Whose incidents a caller sees: all (`None`), one unit's, or none.
fn scope(caller: &Caller) -> Result<Option<String>, Error> {
    caller.require_authenticated()?;
    if caller.has_any_role(SECOPS_ROLES) {
        Ok(None)
    } else if caller.has_any_role(UNIT_ROLES)
        && let Some(dept) = caller.dept.as_deref()
    {
        Ok(Some(dept.to_string()))
    } else {
        Err(Error::permission_denied(
            "incidents are for secops and the owning unit's staff",
        ))
    }
}

/// The unit a listing is limited to: a unit's own staff always their own, whatever they ask
/// for; secops the one they ask for, or none.
fn unit_filter<'a>(own: &'a Option<String>, asked: &'a str) -> Option<&'a str> {
    match (own, asked.trim()) {
        (Some(own), _) => Some(own.as_str()),
        (None, "") => None,
        (None, u) => Some(u),
    }
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id.trim())
        .map_err(|_| Error::invalid("id", format!("must be {what} id (UUID)")))
}

fn incident_to_pb(i: &IncidentRow) -> pb::Incident {
    pb::Incident {
        id: i.id.to_string(),
        fingerprint: i.fingerprint.clone(),
        category: i.category.clone(),
        rule: i.rule.clone(),
        asset_ip: i.asset_ip.clone(),
        peer_ip: i.peer_ip.clone(),
        severity: i.severity.clone(),
        event_count: i.event_count.max(0) as u64,
        first_seen: Some(to_timestamp(i.first_seen)),
        last_seen: Some(to_timestamp(i.last_seen)),
        state: i.state.clone(),
        unit_code: i.unit_code.clone().unwrap_or_default(),
        system_name: i.system_name.clone().unwrap_or_default(),
        asset_cidr: i.asset_cidr.clone().unwrap_or_default(),
        false_positive_reason: i.false_positive_reason.clone(),
        create_time: Some(to_timestamp(i.created_at)),
    }
}

fn asset_to_pb(a: &AssetRow, attributed: u64) -> pb::Asset {
    pb::Asset {
        id: a.id.to_string(),
        cidr: a.cidr.clone(),
        unit_code: a.unit_code.clone(),
        system_name: a.system_name.clone(),
        note: a.note.clone(),
        create_time: Some(to_timestamp(a.created_at)),
        incidents_attributed: attributed.min(u32::MAX as u64) as u32,
    }
}

/// Validates, stores and acknowledges one batch. The events that fail validation are listed
/// with their reasons; the rest land together.
pub async fn ingest_batch(
    pool: &PgPool,
    partitions: &Partitions,
    batch: pb::EventBatch,
) -> Result<pb::BatchAck, Error> {
    if batch.events.len() > MAX_BATCH {
        return Err(Error::invalid(
            "events",
            format!(
                "a batch carries at most {MAX_BATCH} events (this one {})",
                batch.events.len()
            ),
        ));
    }
    if batch.batch_id.chars().count() > 64 {
        return Err(Error::invalid("batch_id", "must be at most 64 characters"));
    }
    let accepting = partitions.accepting(chrono::Utc::now());
    let mut valid = Vec::with_capacity(batch.events.len());
    let mut rejections = Vec::new();
    let batch_id = batch.batch_id;
    for (i, e) in batch.events.into_iter().enumerate() {
        match event::validate(i as u32, e, accepting) {
            Ok(v) => valid.push(v),
            Err(r) => rejections.push(pb::Rejection {
                index: r.index,
                source_ref: r.source_ref,
                field: r.field,
                reason: r.reason,
            }),
        }
    }
    partitions.ensure(pool, &valid).await?;
    let stored = ingest::store(pool, &valid).await?;
    Ok(pb::BatchAck {
        batch_id,
        accepted: stored.accepted,
        duplicate: stored.duplicate,
        rejected: rejections.len() as u32,
        rejections,
    })
}

fn notice_to_pb(n: &NoticeRow) -> pb::Notice {
    pb::Notice {
        id: n.id.to_string(),
        number: n.number.clone(),
        incident_id: n.incident_id.to_string(),
        unit_code: n.unit_code.clone(),
        severity: n.severity.clone(),
        state: n.state.clone(),
        note: n.note.clone(),
        deadline_time: Some(to_timestamp(n.deadline)),
        deadline: n
            .deadline
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        overdue: n.overdue(chrono::Utc::now()),
        escalation_level: n.escalation_level.max(0) as u32,
        report: n.report.clone(),
        commitment_letter: n.commitment_letter.clone(),
        report_time: n.reported_at.map(to_timestamp),
        verify_note: n.verify_note.clone(),
        sent_back: n.sent_back.max(0) as u32,
        issued_by: n.issued_by.clone(),
        issue_time: Some(to_timestamp(n.issued_at)),
        acknowledge_time: n.acknowledged_at.map(to_timestamp),
        verify_time: n.verified_at.map(to_timestamp),
        close_time: n.closed_at.map(to_timestamp),
    }
}

fn block_to_pb(b: &BlockRow) -> pb::BlockEntry {
    pb::BlockEntry {
        id: b.id.to_string(),
        cidr: b.cidr.clone(),
        reason: b.reason.clone(),
        incident_id: b.incident_id.map(|i| i.to_string()).unwrap_or_default(),
        expires_at: Some(to_timestamp(b.expires_at)),
        created_by: b.created_by.clone(),
        create_time: Some(to_timestamp(b.created_at)),
        automatic: b.automatic,
        target: b.target.clone(),
        lifted_at: b.lifted_at.map(to_timestamp),
        lifted_by: b.lifted_by.clone().unwrap_or_default(),
    }
}

impl AlertsApi {
    fn notice_days(&self, severity: &str) -> u32 {
        match severity {
            "high" => self.settings.notice_days_high,
            "medium" => self.settings.notice_days_medium,
            _ => self.settings.notice_days_low,
        }
    }

    /// The notice deadline on the legal calendar, from the cases service.
    async fn deadline(&self, working_days: u32) -> Result<chrono::DateTime<chrono::Utc>, Error> {
        let mut req = Request::new(cases_pb::ComputeDeadlineRequest {
            from: Some(to_timestamp(chrono::Utc::now())),
            value: Some(working_days),
            unit: "working_days".into(),
        });
        yiwang_kit::telemetry::inject_trace_context(req.metadata_mut());
        req.set_timeout(std::time::Duration::from_secs(5));
        let d = self
            .cases
            .clone()
            .compute_deadline(req)
            .await
            .map_err(|s| Error::dependency("legal calendar (cases service)", "deadline", &s))?
            .into_inner();
        let at = d
            .deadline_time
            .ok_or_else(|| Error::internal("the calendar answered without a deadline"))?;
        from_timestamp("deadline", &at)
    }

    /// A notice the caller may see: secops any, a unit's staff their own (others: not found).
    fn visible(&self, caller: &Caller, n: &NoticeRow) -> Result<(), Error> {
        match scope(caller)? {
            Some(unit) if unit != n.unit_code => Err(notice::not_found(n.id)),
            _ => Ok(()),
        }
    }

    async fn step(&self, req: Request<pb::NoticeActionRequest>, step: Step) -> Reply<pb::Notice> {
        let caller = Caller::of(&req);
        let unit = scope(&caller)?;
        let r = req.into_inner();
        let id = parse_id(&r.id, "a notice")?;
        let mut v = yiwang_kit::Violations::new();
        let (report, letter, note) = (r.report.trim(), r.commitment_letter.trim(), r.note.trim());
        if step == Step::Report {
            if report.is_empty() || report.chars().count() > 20_000 {
                v.add(
                    "report",
                    "the rectification report is required, at most 20000 characters",
                );
            }
            if letter.is_empty() || letter.chars().count() > 20_000 {
                v.add(
                    "commitment_letter",
                    "the commitment letter is required, at most 20000 characters",
                );
            }
        }
        if matches!(step, Step::Verify { passed: false }) && note.is_empty() {
            v.add(
                "note",
                "say what failed the re-test when sending a report back",
            );
        }
        if note.chars().count() > 2000 {
            v.add("note", "must be at most 2000 characters");
        }
        v.into_result()?;
        let text = if step == Step::Report {
            (report, letter)
        } else {
            (note, "")
        };
        let n = notice::advance(&self.pool, id, step, text, &caller.sub, |n| match &unit {
            Some(u) if *u != n.unit_code => Err(notice::not_found(id)),
            Some(_) if !step.by_unit() => Err(Error::permission_denied(
                "secops verify and close notices; the unit acknowledges and reports",
            )),
            None if step.by_unit() && !caller.has_any_role(UNIT_ROLES) => {
                Err(Error::permission_denied(format!(
                    "the owning unit ({}) acknowledges and reports its notice",
                    n.unit_code
                )))
            }
            _ => Ok(()),
        })
        .await?;
        tracing::info!(notice = %n.number, state = %n.state, actor = %caller.sub, "notice step");
        Ok(Response::new(notice_to_pb(&n)))
    }
}

#[tonic::async_trait]
impl AlertsService for AlertsApi {
    type StreamEventsStream = Pin<Box<dyn Stream<Item = Result<pb::BatchAck, Status>> + Send>>;

    async fn stream_events(
        &self,
        req: Request<Streaming<pb::EventBatch>>,
    ) -> Reply<Self::StreamEventsStream> {
        Caller::of(&req).require_any_role(INGEST_ROLES)?;
        let inbound = req.into_inner();
        let (pool, partitions) = (self.pool.clone(), self.partitions.clone());
        // One batch at a time, in order: an acknowledgement means that batch is durable.
        let acks = inbound
            .map(move |batch| (batch, pool.clone(), partitions.clone()))
            .then(move |(batch, pool, partitions)| async move {
                let batch = batch?;
                let n = batch.events.len();
                let ack = ingest_batch(&pool, &partitions, batch)
                    .await
                    .map_err(Status::from)?;
                tracing::debug!(events = n, accepted = ack.accepted, "alerts batch stored");
                Ok(ack)
            })
            // The stream ends at the first failure (its status is the stream's).
            .scan(false, |failed, item: Result<pb::BatchAck, Status>| {
                let out = if *failed { None } else { Some(item) };
                if matches!(out, Some(Err(_))) {
                    *failed = true;
                }
                futures::future::ready(out)
            });
        Ok(Response::new(Box::pin(acks)))
    }

    async fn ingest_events(&self, req: Request<pb::EventBatch>) -> Reply<pb::BatchAck> {
        Caller::of(&req).require_any_role(INGEST_ROLES)?;
        let ack = ingest_batch(&self.pool, &self.partitions, req.into_inner()).await?;
        Ok(Response::new(ack))
    }

    async fn get_incident(&self, req: Request<pb::GetIncidentRequest>) -> Reply<pb::Incident> {
        let unit = scope(&Caller::of(&req))?;
        let id = parse_id(&req.get_ref().id, "an incident")?;
        let i = incident::get(&self.pool, id).await?;
        if unit.is_some() && i.unit_code != unit {
            return Err(incident::not_found(id).into());
        }
        Ok(Response::new(incident_to_pb(&i)))
    }

    async fn list_incidents(
        &self,
        req: Request<pb::ListIncidentsRequest>,
    ) -> Reply<pb::ListIncidentsResponse> {
        let caller = Caller::of(&req);
        let unit = scope(&caller)?;
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        if !["", "open", "notified", "closed", "false_positive"].contains(&r.state.as_str()) {
            v.add("state", "must be open, notified, closed or false_positive");
        }
        if !r.severity.is_empty() && !event::SEVERITIES.contains(&r.severity.as_str()) {
            v.add("severity", "must be high, medium or low");
        }
        if !r.category.is_empty() && !event::CATEGORIES.contains(&r.category.as_str()) {
            v.add(
                "category",
                "must be host_compromised, attack_attempt or potential_risk",
            );
        }
        v.into_result()?;
        let unit_filter = unit_filter(&unit, &r.unit_code);
        let (list, next) = incident::list(
            self.reads.for_caller(&caller.sub).await,
            &Filter {
                unit: unit_filter,
                state: &r.state,
                severity: &r.severity,
                category: &r.category,
                unattributed: r.unattributed && unit.is_none(),
            },
            r.page_size,
            &r.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListIncidentsResponse {
            incidents: list.iter().map(incident_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn mark_false_positive(
        &self,
        req: Request<pb::IncidentActionRequest>,
    ) -> Reply<pb::Incident> {
        let caller = Caller::of(&req);
        let unit = scope(&caller)?;
        let r = req.into_inner();
        let id = parse_id(&r.id, "an incident")?;
        let reason = r.reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(Error::invalid("reason", "is required, at most 2000 characters").into());
        }
        let i = incident::mark_false_positive(&self.pool, id, reason, &caller.sub, |i| {
            if unit.is_some() && i.unit_code != unit {
                Err(incident::not_found(id))
            } else if unit.is_some() {
                Err(Error::permission_denied(
                    "only secops close an incident as a false positive",
                ))
            } else {
                Ok(())
            }
        })
        .await?;
        tracing::info!(incident = %i.id, actor = %caller.sub, "incident closed as false positive");
        Ok(Response::new(incident_to_pb(&i)))
    }

    async fn create_asset(&self, req: Request<pb::CreateAssetRequest>) -> Reply<pb::Asset> {
        let caller = Caller::of(&req);
        caller.require_any_role(SECOPS_ROLES)?;
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        let cidr = match parse_cidr(&r.cidr) {
            Ok((ip, len)) => format!("{ip}/{len}"),
            Err(e) => {
                v.add("cidr", e);
                String::new()
            }
        };
        let unit = r.unit_code.trim();
        if unit.is_empty() || unit.chars().count() > 64 {
            v.add(
                "unit_code",
                "is required (a catalogue org unit code), at most 64 characters",
            );
        }
        let system = r.system_name.trim();
        if system.is_empty() || system.chars().count() > 200 {
            v.add("system_name", "is required, at most 200 characters");
        }
        if r.note.chars().count() > 2000 {
            v.add("note", "must be at most 2000 characters");
        }
        v.into_result()?;
        let (a, attributed) =
            incident::create_asset(&self.pool, &cidr, unit, system, r.note.trim(), &caller.sub)
                .await?;
        tracing::info!(cidr = %a.cidr, unit = %a.unit_code, attributed, actor = %caller.sub, "asset registered");
        Ok(Response::new(asset_to_pb(&a, attributed)))
    }

    async fn list_assets(
        &self,
        req: Request<pb::ListAssetsRequest>,
    ) -> Reply<pb::ListAssetsResponse> {
        let caller = Caller::of(&req);
        let unit = scope(&caller)?;
        let r = req.into_inner();
        let covering = r.covering.trim();
        if !covering.is_empty() && covering.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid("covering", "must be an IPv4 or IPv6 address").into());
        }
        let unit_filter = unit.as_deref().unwrap_or(r.unit_code.trim());
        let (list, next) = incident::list_assets(
            self.reads.for_caller(&caller.sub).await,
            unit_filter,
            (!covering.is_empty()).then_some(covering),
            r.page_size,
            &r.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListAssetsResponse {
            assets: list.iter().map(|a| asset_to_pb(a, 0)).collect(),
            next_page_token: next,
        }))
    }

    async fn delete_asset(&self, req: Request<pb::DeleteAssetRequest>) -> Reply<pb::Asset> {
        let caller = Caller::of(&req);
        caller.require_any_role(SECOPS_ROLES)?;
        let id = parse_id(&req.get_ref().id, "an asset")?;
        let a = incident::delete_asset(&self.pool, id, &caller.sub).await?;
        tracing::info!(cidr = %a.cidr, actor = %caller.sub, "asset removed");
        Ok(Response::new(asset_to_pb(&a, 0)))
    }

    async fn issue_notice(&self, req: Request<pb::IssueNoticeRequest>) -> Reply<pb::Notice> {
        let caller = Caller::of(&req);
        caller.require_any_role(SECOPS_ROLES)?;
        let r = req.into_inner();
        let incident_id = parse_id(&r.incident_id, "an incident")
            .map_err(|_| Error::invalid("incident_id", "must be an incident id (UUID)"))?;
        let note = r.note.trim();
        if note.chars().count() > 4000 {
            return Err(Error::invalid("note", "must be at most 4000 characters").into());
        }
        if r.request_id.chars().count() > 100 {
            return Err(Error::invalid("request_id", "must be at most 100 characters").into());
        }
        let request_key = (!r.request_id.trim().is_empty())
            .then(|| format!("{}\u{1f}{}", caller.sub, r.request_id.trim()));
        if let Some(key) = &request_key
            && let Some(n) = notice::by_request(&self.pool, key).await?
        {
            return Ok(Response::new(notice_to_pb(&n)));
        }
        let i = incident::get(&self.pool, incident_id).await?;
        let deadline = self.deadline(self.notice_days(&i.severity)).await?;
        let (n, blocked) = notice::issue(
            &self.pool,
            notice::Issue {
                incident_id,
                note,
                deadline,
                actor: &caller.sub,
                request_key: request_key.as_deref(),
                auto_block_days: self.settings.auto_block_days,
                block_host: self.settings.auto_block_hosts,
                block_peer: self.settings.auto_block_peers,
                allowlist: &self.settings.allowlist,
            },
        )
        .await?;
        tracing::info!(notice = %n.number, unit = %n.unit_code, deadline = %n.deadline, actor = %caller.sub, "notice issued");
        if let Some(b) = blocked {
            tracing::info!(cidr = %b.cidr, notice = %n.number, "peer of a compromised host blocked");
        }
        Ok(Response::new(notice_to_pb(&n)))
    }

    async fn get_notice(&self, req: Request<pb::GetNoticeRequest>) -> Reply<pb::Notice> {
        let caller = Caller::of(&req);
        let id = parse_id(&req.get_ref().id, "a notice")?;
        let n = notice::get(&self.pool, id).await?;
        self.visible(&caller, &n)?;
        Ok(Response::new(notice_to_pb(&n)))
    }

    async fn list_notices(
        &self,
        req: Request<pb::ListNoticesRequest>,
    ) -> Reply<pb::ListNoticesResponse> {
        let caller = Caller::of(&req);
        let unit = scope(&caller)?;
        let r = req.into_inner();
        if ![
            "",
            "issued",
            "acknowledged",
            "reported",
            "verified",
            "closed",
        ]
        .contains(&r.state.as_str())
        {
            return Err(Error::invalid(
                "state",
                "must be issued, acknowledged, reported, verified or closed",
            )
            .into());
        }
        let unit_filter = unit_filter(&unit, &r.unit_code);
        let (list, next) = notice::list(
            self.reads.for_caller(&caller.sub).await,
            unit_filter,
            &r.state,
            r.overdue,
            r.page_size,
            &r.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListNoticesResponse {
            notices: list.iter().map(notice_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn acknowledge_notice(&self, req: Request<pb::NoticeActionRequest>) -> Reply<pb::Notice> {
        self.step(req, Step::Acknowledge).await
    }

    async fn report_notice(&self, req: Request<pb::NoticeActionRequest>) -> Reply<pb::Notice> {
        self.step(req, Step::Report).await
    }

    async fn verify_notice(&self, req: Request<pb::NoticeActionRequest>) -> Reply<pb::Notice> {
        let passed = req.get_ref().passed;
        self.step(req, Step::Verify { passed }).await
    }

    async fn close_notice(&self, req: Request<pb::NoticeActionRequest>) -> Reply<pb::Notice> {
        self.step(req, Step::Close).await
    }

    async fn create_block(&self, req: Request<pb::CreateBlockRequest>) -> Reply<pb::BlockEntry> {
        let caller = Caller::of(&req);
        caller.require_any_role(SECOPS_ROLES)?;
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        let net = match parse_cidr(&r.cidr) {
            Ok(n) => Some(n),
            Err(e) => {
                v.add("cidr", e);
                None
            }
        };
        if let Some(n) = net {
            for allowed in &self.settings.allowlist {
                if let Ok(a) = parse_cidr(allowed)
                    && overlaps(n, a)
                {
                    v.add(
                        "cidr",
                        format!("overlaps the allow-list entry {allowed} (the network's own gateways are never blocked)"),
                    );
                    break;
                }
            }
        }
        let reason = r.reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            v.add("reason", "is required, at most 2000 characters");
        }
        let incident_id = if r.incident_id.trim().is_empty() {
            None
        } else {
            match Uuid::parse_str(r.incident_id.trim()) {
                Ok(id) => Some(id),
                Err(_) => {
                    v.add("incident_id", "must be an incident id (UUID)");
                    None
                }
            }
        };
        let now = chrono::Utc::now();
        let expires = match r
            .expires_at
            .as_ref()
            .map(|t| from_timestamp("expires_at", t))
        {
            None => {
                v.add("expires_at", "is required: every block entry expires");
                None
            }
            Some(Err(e)) => {
                v.add("expires_at", e.to_string());
                None
            }
            Some(Ok(t)) if t <= now => {
                v.add("expires_at", "must be in the future");
                None
            }
            Some(Ok(t)) if t > now + Duration::days(366) => {
                v.add("expires_at", "must be at most a year ahead");
                None
            }
            Some(Ok(t)) => Some(t),
        };
        v.into_result()?;
        let (ip, len) = net.expect("validated");
        let b = notice::create_block(
            &self.pool,
            NewBlock {
                cidr: &format!("{ip}/{len}"),
                reason,
                incident_id,
                expires_at: expires.expect("validated"),
                automatic: false,
                target: "",
                actor: &caller.sub,
            },
        )
        .await?;
        tracing::info!(cidr = %b.cidr, actor = %caller.sub, "blocked");
        Ok(Response::new(block_to_pb(&b)))
    }

    async fn list_blocks(
        &self,
        req: Request<pb::ListBlocksRequest>,
    ) -> Reply<pb::ListBlocksResponse> {
        Caller::of(&req).require_any_role(INGEST_ROLES)?;
        // The primary, not a replica: firewalls enforce this list, and a block the security
        // team just added must not wait for replication.
        let entries = if req.get_ref().include_lifted {
            notice::block_history(&self.pool, 1000).await?
        } else {
            notice::active_blocks(&self.pool).await?
        };
        Ok(Response::new(pb::ListBlocksResponse {
            entries: entries.iter().map(block_to_pb).collect(),
        }))
    }

    async fn lift_block(&self, req: Request<pb::LiftBlockRequest>) -> Reply<pb::BlockEntry> {
        let caller = Caller::of(&req);
        caller.require_any_role(SECOPS_ROLES)?;
        let id = parse_id(&req.get_ref().id, "a block entry")?;
        let b = notice::lift_block(&self.pool, id, &caller.sub).await?;
        tracing::info!(cidr = %b.cidr, actor = %caller.sub, "block lifted");
        Ok(Response::new(block_to_pb(&b)))
    }

    async fn get_alert_stats(
        &self,
        req: Request<pb::GetAlertStatsRequest>,
    ) -> Reply<pb::AlertStats> {
        // Security staff, the bureau and its systems (the insight service's scorecard).
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::SECOPS, roles::SUPERVISOR, roles::SYSTEM])?;
        let r = req.into_inner();
        let day =
            |field: &str, t: Option<&prost_types::Timestamp>| -> Result<chrono::NaiveDate, Error> {
                let t = t.ok_or_else(|| Error::invalid(field, "is required"))?;
                Ok(from_timestamp(field, t)?
                    .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                    .date_naive())
            };
        let (from, to) = (day("from", r.from.as_ref())?, day("to", r.to.as_ref())?);
        if to <= from {
            return Err(Error::invalid("to", "must be after from").into());
        }
        if (to - from).num_days() > 3660 {
            return Err(Error::invalid("to", "the period may span at most ten years").into());
        }
        let pool = self.reads.for_caller(&caller.sub).await;
        Ok(Response::new(crate::stats::compare(pool, from, to).await?))
    }
}
