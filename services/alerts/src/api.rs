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
use yiwang_kit::{Caller, Error, to_timestamp};
use yiwang_proto::alerts::v1 as pb;
use yiwang_proto::alerts::v1::alerts_service_server::AlertsService;

use crate::event::{self, MAX_BATCH, parse_cidr};
use crate::incident::{self, AssetRow, Filter, IncidentRow};
use crate::ingest::{self, Partitions};

pub struct AlertsApi {
    pub pool: PgPool,
    pub partitions: Arc<Partitions>,
    /// How long after an incident's last event a new event still joins it.
    pub window: Duration,
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
    window: Duration,
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
    for (i, e) in batch.events.iter().enumerate() {
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
    let stored = ingest::store(pool, &valid, window).await?;
    Ok(pb::BatchAck {
        batch_id: batch.batch_id,
        accepted: stored.accepted,
        duplicate: stored.duplicate,
        rejected: rejections.len() as u32,
        rejections,
        incidents_opened: stored.incidents_opened,
    })
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
        let (pool, partitions, window) = (self.pool.clone(), self.partitions.clone(), self.window);
        // One batch at a time, in order: an acknowledgement means that batch is durable.
        let acks = inbound
            .map(move |batch| (batch, pool.clone(), partitions.clone()))
            .then(move |(batch, pool, partitions)| async move {
                let batch = batch?;
                let n = batch.events.len();
                let ack = ingest_batch(&pool, &partitions, window, batch)
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
        let ack = ingest_batch(&self.pool, &self.partitions, self.window, req.into_inner()).await?;
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
        let unit = scope(&Caller::of(&req))?;
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        if !["", "open", "false_positive"].contains(&r.state.as_str()) {
            v.add("state", "must be open or false_positive");
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
        // A unit's staff always see their own unit, whatever they ask for.
        let unit_filter = match (&unit, r.unit_code.trim()) {
            (Some(own), _) => Some(own.as_str()),
            (None, "") => None,
            (None, u) => Some(u),
        };
        let (list, next) = incident::list(
            &self.pool,
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
        let unit = scope(&Caller::of(&req))?;
        let r = req.into_inner();
        let covering = r.covering.trim();
        if !covering.is_empty() && covering.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid("covering", "must be an IPv4 or IPv6 address").into());
        }
        let unit_filter = unit.as_deref().unwrap_or(r.unit_code.trim());
        let (list, next) = incident::list_assets(
            &self.pool,
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
}
