//! 一件事一次办: a bundle of the catalogue filed as one application. Its members are ordinary
//! cases (one per item, at each item's department, pinned to the item's version) filed in one
//! transaction, worked by their departments as any case. The application's state, acceptance
//! and deadline are derived from the members; withdrawal and delivery (综合出件) change every
//! member in one transaction, under the members' row locks.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, Result, outbox, to_timestamp};
use yiwang_proto::cases::v1 as pb;
use yiwang_proto::catalog::v1 as catalog_pb;

use crate::api::{CasesApi, View};
use crate::calendar::{Limit, SHANGHAI, Unit};
use crate::case_store::{self, Act, CaseRow, NewCase, Numbers};
use crate::lifecycle::{self, Action};

pub const APPLICATION_FILED: &str = "cases.application.filed";
pub const APPLICATION_DELIVERED: &str = "cases.application.delivered";

/// States from which a member is still being worked (withdrawal stops it).
const OPEN: &[&str] = &["received", "accepted", "correction", "special_procedure"];
/// Decided for good, approved.
const APPROVED: &[&str] = &["approved", "approved_with_tolerance"];

pub struct ApplicationRow {
    pub id: Uuid,
    pub application_number: String,
    pub bundle_id: String,
    pub bundle_name: String,
    pub channel: String,
    pub owner_sub: String,
    pub filed_by: String,
    pub limit: Limit,
    pub delivery_method: String,
    pub tracking_number: String,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, application_number, bundle_id, bundle_name, channel, owner_sub, filed_by, \
    limit_value, limit_unit, delivery_method, tracking_number, delivered_at, created_at, updated_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<ApplicationRow> {
    let unit: String = r.try_get("limit_unit")?;
    Ok(ApplicationRow {
        id: r.try_get("id")?,
        application_number: r.try_get("application_number")?,
        bundle_id: r.try_get("bundle_id")?,
        bundle_name: r.try_get("bundle_name")?,
        channel: r.try_get("channel")?,
        owner_sub: r.try_get("owner_sub")?,
        filed_by: r.try_get("filed_by")?,
        limit: Limit::new(
            r.try_get::<i32, _>("limit_value")?.max(0) as u32,
            Unit::parse(&unit).unwrap_or(Unit::WorkingDays),
        ),
        delivery_method: r.try_get("delivery_method")?,
        tracking_number: r.try_get("tracking_number")?,
        delivered_at: r.try_get("delivered_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The application's state from its members' (and whether the results were delivered).
pub fn derived_state(members: &[&str], delivered: bool) -> &'static str {
    let live: Vec<&str> = members
        .iter()
        .copied()
        .filter(|s| *s != "withdrawn")
        .collect();
    if live.is_empty() {
        return "withdrawn";
    }
    if delivered {
        return "delivered";
    }
    if live.contains(&"received") {
        return "received";
    }
    if live.iter().all(|s| *s == "accepted") {
        return "accepted";
    }
    if live.iter().any(|s| OPEN.contains(s)) {
        return "in_progress";
    }
    // Every member decided (delivered and revoked count by what they were).
    let approved = live
        .iter()
        .filter(|s| APPROVED.contains(s) || **s == "delivered")
        .count();
    match approved {
        0 => "denied",
        n if n == live.len() => "approved",
        _ => "partially_approved",
    }
}

/// When the application counts as accepted: when the last of its members to be worked (not
/// withdrawn, not refused at receipt) was accepted; `None` while one still waits.
pub fn accepted_at(members: &[CaseRow]) -> Option<DateTime<Utc>> {
    let worked: Vec<&CaseRow> = members
        .iter()
        .filter(|m| m.state != "withdrawn" && m.state != "not_accepted")
        .collect();
    if worked.is_empty() {
        return None;
    }
    worked
        .iter()
        .map(|m| m.accepted_at)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()
}

pub struct NewApplication {
    pub bundle_id: String,
    pub bundle_name: String,
    pub channel: String,
    pub owner_sub: String,
    pub filed_by: String,
    pub limit: Limit,
}

/// Files the application and every member in one transaction; a repeated (caller, request_id)
/// returns the application filed first.
pub async fn file(
    pool: &PgPool,
    numbers: &Numbers,
    caller: &str,
    request_id: &str,
    app: NewApplication,
    members: Vec<NewCase>,
) -> Result<Uuid> {
    if !request_id.is_empty()
        && let Some(existing) = find_request(pool, caller, request_id).await?
    {
        return Ok(existing);
    }
    let now = Utc::now();
    let number = numbers.next(pool, now).await?;
    let mut member_numbers = Vec::with_capacity(members.len());
    for _ in &members {
        member_numbers.push(numbers.next(pool, now).await?);
    }
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    if !request_id.is_empty() {
        let claimed = sqlx::query(
            "INSERT INTO application_requests (caller, request_id, application_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(caller)
        .bind(request_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            drop(tx);
            return find_request(pool, caller, request_id)
                .await?
                .ok_or_else(|| Error::internal("application request vanished"));
        }
    }
    sqlx::query(
        "INSERT INTO applications (id, application_number, bundle_id, bundle_name, channel, owner_sub,
                                   filed_by, limit_value, limit_unit, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id)
    .bind(&number)
    .bind(&app.bundle_id)
    .bind(&app.bundle_name)
    .bind(&app.channel)
    .bind(&app.owner_sub)
    .bind(&app.filed_by)
    .bind(app.limit.value as i32)
    .bind(app.limit.unit.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut member_ids = Vec::with_capacity(members.len());
    for (m, n) in members.iter().zip(&member_numbers) {
        let c =
            case_store::insert_case(&mut tx, Uuid::now_v7(), n, caller, m, now, Some(id)).await?;
        member_ids.push(c.id);
    }
    outbox::enqueue(
        &mut tx,
        APPLICATION_FILED,
        &serde_json::json!({"application_id": id, "application_number": number,
            "bundle_id": app.bundle_id, "members": member_ids, "filed_at": now}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn find_request(pool: &PgPool, caller: &str, request_id: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT application_id FROM application_requests WHERE caller = $1 AND request_id = $2",
    )
    .bind(caller)
    .bind(request_id)
    .fetch_optional(pool)
    .await?)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(
        "APPLICATION_NOT_FOUND",
        format!("application {id} does not exist"),
    )
}

/// An application with its members and, for those in correction, what was asked.
struct Loaded {
    app: ApplicationRow,
    members: Vec<CaseRow>,
    correction_reasons: std::collections::HashMap<Uuid, String>,
}

async fn load(conn: &mut sqlx::PgConnection, id: Uuid, lock: bool) -> Result<Loaded> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM applications WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(id))?;
    let app = from_row(&row)?;
    let members = case_store::members_of(&mut *conn, id, lock).await?;
    let waiting: Vec<Uuid> = members
        .iter()
        .filter(|m| m.state == "correction")
        .map(|m| m.id)
        .collect();
    let correction_reasons = sqlx::query_as::<_, (Uuid, String)>(
        "SELECT DISTINCT ON (case_id) case_id, reason FROM case_transitions
          WHERE case_id = ANY($1) AND action = 'request_correction'
          ORDER BY case_id, id DESC",
    )
    .bind(&waiting)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    Ok(Loaded {
        app,
        members,
        correction_reasons,
    })
}

/// How the caller sees an application: the applicant and staff of a member's department in
/// full, oversight masked; anyone else not at all.
fn view(caller: &Caller, app: &ApplicationRow, members: &[CaseRow]) -> Option<View> {
    if !app.owner_sub.is_empty() && app.owner_sub == caller.sub {
        return Some(View::Full);
    }
    if members.iter().any(|m| {
        crate::api::is_staff_of(caller, &m.department) || crate::api::is_window_of(caller, m)
    }) {
        return Some(View::Full);
    }
    caller
        .has_any_role(crate::api::OVERSIGHT_ROLES)
        .then_some(View::Masked)
}

impl CasesApi {
    pub(crate) async fn file_application(
        &self,
        caller: &Caller,
        r: pb::FileApplicationRequest,
    ) -> Result<pb::Application> {
        caller.require_any_role(&[
            roles::CITIZEN,
            roles::ENTERPRISE,
            roles::CLERK,
            roles::OFFICER,
            roles::WINDOW_CLERK,
        ])?;
        let mut v = yiwang_kit::Violations::new();
        let bundle_id = r.bundle_id.trim();
        if bundle_id.is_empty() || bundle_id.chars().count() > 64 {
            v.add("bundle_id", "must be 1 to 64 characters");
        }
        if !lifecycle::CHANNELS.contains(&r.channel.as_str()) {
            v.add(
                "channel",
                format!("must be one of {}", lifecycle::CHANNELS.join(", ")),
            );
        }
        if r.request_id.len() > 255 {
            v.add("request_id", "must be at most 255 characters");
        }
        let a = r.applicant.clone().unwrap_or_default();
        crate::api::check_applicant(caller, &a, &mut v);
        // The older, names-only form is still taken.
        #[allow(deprecated)]
        let materials = crate::material::clean_given(&r.material_names, &r.materials, &mut v);
        v.into_result()?;

        let bundle = self.bundle(bundle_id).await?;
        let mut v = yiwang_kit::Violations::new();
        if !bundle.applicant_kind.is_empty() && bundle.applicant_kind != a.kind {
            v.add(
                "applicant.kind",
                format!(
                    "bundle {} is for {} applicants",
                    bundle.id, bundle.applicant_kind
                ),
            );
        }
        for m in &materials {
            if !bundle.materials.iter().any(|bm| bm.name == m.name) {
                v.add(
                    m.field.clone(),
                    format!("is not a material of bundle {}", bundle.id),
                );
            }
        }
        v.into_result()?;
        crate::material::check_uploads(&self.pool, &caller.sub, &materials).await?;
        // A comprehensive window receives the bundle only if it receives every item of it.
        if let Some(hall) = crate::api::window_hall(caller) {
            let received = self.hall_items(hall).await?;
            if let Some(missing) = bundle.items.iter().find(|c| !received.contains(*c)) {
                return Err(Error::permission_denied(format!(
                    "the comprehensive window of hall {hall} does not receive item {missing} of bundle {}",
                    bundle.id
                )));
            }
        }
        // Every item at its current published version; the first that is not makes the whole
        // application wait (nothing is filed).
        let mut members = Vec::with_capacity(bundle.items.len());
        for code in &bundle.items {
            let item = self.current_item(code).await.map_err(|e| {
                if e.reason == "INVALID_FIELD" {
                    Error::failed_precondition(
                        "ITEM_NOT_PUBLISHED",
                        format!(
                            "item {code} of bundle {} has no published version",
                            bundle.id
                        ),
                    )
                } else {
                    e
                }
            })?;
            let own: Vec<crate::material::Given> = materials
                .iter()
                .filter(|m| item.materials.iter().any(|im| im.name == m.name))
                .cloned()
                .collect();
            members.push(self.new_case(caller, &item, &r.channel, &a, own));
        }
        if members.is_empty() {
            return Err(Error::failed_precondition(
                "BUNDLE_EMPTY",
                format!("bundle {} lists no items", bundle.id),
            ));
        }
        let limit = match &bundle.promised_limit {
            Some(l) if l.value > 0 => {
                Limit::new(l.value, Unit::parse(&l.unit).unwrap_or(Unit::WorkingDays))
            }
            // No combined promise: the longest member's.
            _ => members
                .iter()
                .map(|m| m.limit)
                .max_by_key(|l| (l.unit.as_str() == "working_days", l.value))
                .unwrap_or(Limit::new(0, Unit::WorkingDays)),
        };
        let staff = caller.has_any_role(crate::api::STAFF_ROLES)
            || crate::api::window_hall(caller).is_some();
        let app = NewApplication {
            bundle_id: bundle.id.clone(),
            bundle_name: bundle.name.clone(),
            channel: r.channel.clone(),
            owner_sub: if staff {
                String::new()
            } else {
                caller.sub.clone()
            },
            filed_by: caller.sub.clone(),
            limit,
        };
        let id = file(
            &self.pool,
            &self.numbers,
            &caller.sub,
            &r.request_id,
            app,
            members,
        )
        .await?;
        let mut conn = self.pool.acquire().await?;
        let loaded = load(&mut conn, id, false).await?;
        tracing::info!(application = %loaded.app.application_number, members = loaded.members.len(), "application filed");
        Ok(self.application_to_pb(&loaded, View::Full))
    }

    pub(crate) async fn get_application(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<pb::Application> {
        caller.require_authenticated()?;
        let id = parse(id)?;
        let mut conn = self.pool.acquire().await?;
        let loaded = load(&mut conn, id, false).await?;
        let view = view(caller, &loaded.app, &loaded.members).ok_or_else(|| not_found(id))?;
        Ok(self.application_to_pb(&loaded, view))
    }

    /// Withdraws every member not yet decided, in one transaction.
    pub(crate) async fn withdraw_application(
        &self,
        caller: &Caller,
        r: pb::ApplicationActionRequest,
    ) -> Result<pb::Application> {
        caller.require_authenticated()?;
        let id = parse(&r.id)?;
        let reason = r.reason.trim();
        if reason.chars().count() > 2000 {
            return Err(Error::invalid("reason", "must be at most 2000 characters"));
        }
        let calendar = self.calendar();
        let mut tx = self.pool.begin().await?;
        let Loaded { app, members, .. } = load(&mut tx, id, true).await?;
        let owner = !app.owner_sub.is_empty() && app.owner_sub == caller.sub;
        let window_filed = app.owner_sub.is_empty()
            && members.iter().any(|m| {
                crate::api::is_staff_of(caller, &m.department)
                    || crate::api::is_window_of(caller, m)
            });
        if !owner && !window_filed {
            return Err(match view(caller, &app, &members) {
                Some(_) => {
                    Error::permission_denied("only the applicant may withdraw the application")
                }
                None => not_found(id),
            });
        }
        let open: Vec<Uuid> = members
            .iter()
            .filter(|m| OPEN.contains(&m.state.as_str()))
            .map(|m| m.id)
            .collect();
        if open.is_empty() {
            return Err(Error::failed_precondition(
                "APPLICATION_STATE",
                format!(
                    "application {} has no member left to withdraw",
                    app.application_number
                ),
            ));
        }
        for member in open {
            case_store::transition_in(
                &mut tx,
                &calendar,
                member,
                withdraw_act(&caller.sub, reason),
                |_| Ok(()),
            )
            .await?;
        }
        sqlx::query("UPDATE applications SET updated_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.answer(id).await
    }

    /// 综合出件: every decided member delivered together, once.
    pub(crate) async fn deliver_application(
        &self,
        caller: &Caller,
        r: pb::ApplicationActionRequest,
    ) -> Result<pb::Application> {
        caller.require_any_role(&[roles::CLERK, roles::OFFICER, roles::WINDOW_CLERK])?;
        let id = parse(&r.id)?;
        let mut v = yiwang_kit::Violations::new();
        if !lifecycle::DELIVERY_METHODS.contains(&r.delivery_method.as_str()) {
            v.add("delivery_method", "must be window, ems or electronic");
        } else if r.delivery_method == "ems" && r.tracking_number.trim().is_empty() {
            v.add("tracking_number", "is required for EMS delivery");
        }
        if r.tracking_number.chars().count() > 64 {
            v.add("tracking_number", "must be at most 64 characters");
        }
        let address = r.address.trim();
        if r.delivery_method == "ems" {
            if !address.is_empty() && !(5..=200).contains(&address.chars().count()) {
                v.add(
                    "address",
                    "must be a mailing address of 5 to 200 characters",
                );
            }
        } else {
            if !address.is_empty() {
                v.add("address", "is only for EMS delivery");
            }
            if r.free_mailing {
                v.add("free_mailing", "is only for EMS delivery");
            }
        }
        v.into_result()?;
        let calendar = self.calendar();
        let mut tx = self.pool.begin().await?;
        let Loaded { app, members, .. } = load(&mut tx, id, true).await?;
        if !members.iter().any(|m| {
            crate::api::is_staff_of(caller, &m.department) || crate::api::is_window_of(caller, m)
        }) {
            return Err(match view(caller, &app, &members) {
                Some(_) => Error::permission_denied(
                    "only staff of a member's department or the window that received it deliver the application",
                ),
                None => not_found(id),
            });
        }
        if app.delivered_at.is_some() {
            return Err(Error::failed_precondition(
                "APPLICATION_STATE",
                format!(
                    "application {} was delivered already",
                    app.application_number
                ),
            ));
        }
        if let Some(open) = members.iter().find(|m| OPEN.contains(&m.state.as_str())) {
            return Err(Error::failed_precondition(
                "APPLICATION_STATE",
                format!(
                    "member {} ({}) is {}; the results are delivered together once every member is decided",
                    open.case_number, open.item_name, open.state
                ),
            )
            .with_metadata("case_number", open.case_number.clone()));
        }
        let method = r.delivery_method.as_str();
        let tracking = r.tracking_number.trim();
        let pickup_code = (method == "window").then(|| yiwang_kit::crypto::random_code(6));
        for m in members
            .iter()
            .filter(|m| APPROVED.contains(&m.state.as_str()) || m.state == "denied")
        {
            let act = Act {
                action: Action::Deliver,
                actor: &caller.sub,
                reason: "",
                outcome: "",
                delivery_method: method,
                tracking_number: tracking,
                add_materials: &[],
                add_files: &[],
                as_of: None,
                record_as: None,
                hall: crate::api::window_hall(caller).unwrap_or_default(),
            };
            // One parcel or one pickup for all: the same address, or one pickup code shown on
            // every member.
            let how = case_store::Delivery {
                address_sealed: (method == "ems" && !address.is_empty())
                    .then(|| self.key.seal(address, crate::api::AAD_ADDRESS)),
                free_mailing: r.free_mailing && method == "ems",
                pickup_code_sealed: pickup_code
                    .as_deref()
                    .map(|code| self.key.seal(code, crate::api::AAD_PICKUP)),
            };
            case_store::deliver_in(&mut tx, &calendar, m.id, act, &how, |_| Ok(())).await?;
        }
        sqlx::query(
            "UPDATE applications SET delivered_at = now(), delivery_method = $2, tracking_number = $3,
                    updated_at = now()
              WHERE id = $1",
        )
        .bind(id)
        .bind(method)
        .bind(tracking)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            APPLICATION_DELIVERED,
            &serde_json::json!({"application_id": id, "application_number": app.application_number,
                "method": method}),
        )
        .await?;
        tx.commit().await?;
        self.answer(id).await
    }

    /// 形式受理 at the comprehensive window that received the application: every member
    /// awaiting acceptance is accepted at once, in one transaction (of two windows trying at
    /// once, one does it and the other is told there is nothing left to accept).
    pub(crate) async fn accept_application(
        &self,
        caller: &Caller,
        r: pb::ApplicationActionRequest,
    ) -> Result<pb::Application> {
        caller.require_any_role(&[roles::WINDOW_CLERK])?;
        let hall = crate::api::window_hall(caller).ok_or_else(|| {
            Error::permission_denied("a window clerk's token names its hall as dept")
        })?;
        let id = parse(&r.id)?;
        let calendar = self.calendar();
        let mut tx = self.pool.begin().await?;
        let Loaded { app, members, .. } = load(&mut tx, id, true).await?;
        if !members.iter().any(|m| crate::api::is_window_of(caller, m)) {
            return Err(match view(caller, &app, &members) {
                Some(_) => Error::permission_denied("another window received this application"),
                None => not_found(id),
            });
        }
        let waiting: Vec<Uuid> = members
            .iter()
            .filter(|m| m.state == "received")
            .map(|m| m.id)
            .collect();
        if waiting.is_empty() {
            return Err(Error::failed_precondition(
                "APPLICATION_STATE",
                format!(
                    "application {} has no member awaiting acceptance",
                    app.application_number
                ),
            ));
        }
        for member in waiting {
            let act = Act {
                action: Action::Accept,
                actor: &caller.sub,
                reason: "",
                outcome: "",
                delivery_method: "",
                tracking_number: "",
                add_materials: &[],
                add_files: &[],
                as_of: None,
                record_as: None,
                hall,
            };
            case_store::transition_in(&mut tx, &calendar, member, act, |_| Ok(())).await?;
        }
        sqlx::query("UPDATE applications SET updated_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.answer(id).await
    }

    /// The caller's own applications, newest first (at most 100).
    pub(crate) async fn my_applications(&self, caller: &Caller) -> Result<Vec<pb::Application>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM applications WHERE owner_sub = $1 ORDER BY created_at DESC, id DESC LIMIT 100",
        )
        .bind(&caller.sub)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        let mut conn = self.pool.acquire().await?;
        for id in ids {
            let loaded = load(&mut conn, id, false).await?;
            out.push(self.application_to_pb(&loaded, View::Full));
        }
        Ok(out)
    }

    /// The application as it now is, for the caller who just changed it.
    async fn answer(&self, id: Uuid) -> Result<pb::Application> {
        let mut conn = self.pool.acquire().await?;
        let loaded = load(&mut conn, id, false).await?;
        Ok(self.application_to_pb(&loaded, View::Full))
    }

    async fn bundle(&self, id: &str) -> Result<catalog_pb::Bundle> {
        let req = crate::api::catalog_request(catalog_pb::GetBundleRequest { id: id.to_string() });
        match self.catalog.clone().get_bundle(req).await {
            Ok(b) => Ok(b.into_inner()),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                Err(Error::invalid(
                    "bundle_id",
                    "is not a bundle (一件事) of the catalogue",
                ))
            }
            Err(s) => Err(Error::dependency("catalogue", "bundle_id", &s)),
        }
    }

    fn application_to_pb(&self, loaded: &Loaded, view: View) -> pb::Application {
        let (app, members) = (&loaded.app, &loaded.members);
        let calendar = self.calendar();
        let beijing = |t: DateTime<Utc>| {
            t.with_timezone(&SHANGHAI)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        };
        let states: Vec<&str> = members.iter().map(|m| m.state.as_str()).collect();
        let accepted = accepted_at(members);
        let deadline =
            accepted.and_then(|at| calendar.deadline(at, app.limit).ok().map(|d| d.at.to_utc()));
        let cases: Vec<pb::Case> = members.iter().map(|m| self.case_to_pb(m, view)).collect();
        let corrections = cases
            .iter()
            .zip(members)
            .filter(|(_, m)| m.state == "correction")
            .map(|(c, m)| pb::ApplicationCorrection {
                case_id: c.id.clone(),
                item_name: c.item_name.clone(),
                department: c.department.clone(),
                reason: loaded
                    .correction_reasons
                    .get(&m.id)
                    .cloned()
                    .unwrap_or_default(),
                missing_materials: c.missing_materials.clone(),
            })
            .collect();
        pb::Application {
            id: app.id.to_string(),
            application_number: app.application_number.clone(),
            bundle_id: app.bundle_id.clone(),
            bundle_name: app.bundle_name.clone(),
            channel: app.channel.clone(),
            applicant: cases.first().and_then(|c| c.applicant.clone()),
            state: derived_state(&states, app.delivered_at.is_some()).to_string(),
            limit_value: app.limit.value,
            limit_unit: app.limit.unit.as_str().to_string(),
            accepted_at: accepted.map(to_timestamp),
            deadline: deadline.map(beijing).unwrap_or_default(),
            deadline_time: deadline.map(to_timestamp),
            members: cases
                .iter()
                .map(|c| pb::ApplicationMember {
                    case_id: c.id.clone(),
                    case_number: c.case_number.clone(),
                    item_code: c.item_code.clone(),
                    item_version: c.item_version,
                    item_name: c.item_name.clone(),
                    department: c.department.clone(),
                    state: c.state.clone(),
                    deadline: c.deadline.clone(),
                    deadline_time: c.deadline_time,
                    outcome_reason: c.outcome_reason.clone(),
                    missing_materials: c.missing_materials.clone(),
                })
                .collect(),
            corrections,
            delivery_method: app.delivery_method.clone(),
            tracking_number: app.tracking_number.clone(),
            delivered_at: app.delivered_at.map(to_timestamp),
            created_at: Some(to_timestamp(app.created_at)),
            updated_at: Some(to_timestamp(app.updated_at)),
        }
    }
}

fn withdraw_act<'a>(actor: &'a str, reason: &'a str) -> Act<'a> {
    Act {
        action: Action::Withdraw,
        actor,
        reason,
        outcome: "",
        delivery_method: "",
        tracking_number: "",
        add_materials: &[],
        add_files: &[],
        as_of: None,
        record_as: None,
        hall: "",
    }
}

fn parse(id: &str) -> Result<Uuid> {
    id.parse()
        .map_err(|_| Error::invalid("id", "must be an application id (a UUID)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_application_state_follows_its_members() {
        let cases: &[(&[&str], bool, &str)] = &[
            (&["received", "received"], false, "received"),
            (&["accepted", "received"], false, "received"),
            (&["accepted", "accepted"], false, "accepted"),
            (&["accepted", "correction"], false, "in_progress"),
            (&["approved", "accepted"], false, "in_progress"),
            (&["approved", "approved_with_tolerance"], false, "approved"),
            (&["approved", "denied"], false, "partially_approved"),
            (&["not_accepted", "approved"], false, "partially_approved"),
            (&["denied", "not_accepted"], false, "denied"),
            (&["withdrawn", "withdrawn"], false, "withdrawn"),
            (&["withdrawn", "approved"], false, "approved"),
            (&["delivered", "delivered"], true, "delivered"),
        ];
        for (members, delivered, want) in cases {
            assert_eq!(derived_state(members, *delivered), *want, "{members:?}");
        }
    }
}
