//! The SQL of cases: filing with a daily case number, reading, listing by who may see what, and
//! transitions under a row lock (of two clerks acting at once, exactly one wins).

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Error, Result, outbox, page};

use crate::calendar::{Calendar, Limit, SHANGHAI, Unit};
use crate::lifecycle::{Action, Clock};

pub const CASE_FILED: &str = "cases.case.filed";
pub const CASE_ACCEPTED: &str = "cases.case.accepted";
pub const CASE_DECIDED: &str = "cases.case.decided";
pub const CASE_REJECTED: &str = "cases.case.rejected";
/// The applicant is asked to correct: the list of what (一次性告知).
pub const CASE_CORRECTION_REQUESTED: &str = "cases.case.correction_requested";
pub const CASE_DELIVERED: &str = "cases.case.delivered";
pub const CASE_DEADLINE_WARNING: &str = "cases.case.deadline_warning";

/// A case as stored (personal numbers still sealed).
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub id: Uuid,
    pub case_number: String,
    pub item_code: String,
    pub item_version: i32,
    pub item_name: String,
    pub department: String,
    pub task_type: String,
    pub channel: String,
    pub applicant_kind: String,
    pub applicant_name: String,
    pub applicant_id_sealed: Option<Vec<u8>>,
    pub applicant_uscc: String,
    pub applicant_phone_sealed: Vec<u8>,
    pub owner_sub: String,
    pub filed_by: String,
    pub materials: Vec<String>,
    pub required_materials: Vec<String>,
    pub state: String,
    pub resume_state: String,
    pub limit_value: i32,
    pub limit_unit: String,
    pub deadline: Option<DateTime<Utc>>,
    pub clock: String,
    pub clock_stopped_at: Option<DateTime<Utc>>,
    pub calendar_complete: bool,
    pub outcome_reason: String,
    pub delivery_method: String,
    pub tracking_number: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub helper: String,
    pub helper_kind: String,
    /// The bundle application (一件事) this case is a member of.
    pub application_id: Option<Uuid>,
    /// The hall whose comprehensive window received it ('' otherwise).
    pub hall: String,
    /// 跨省通办: the partner region and direction ('' otherwise).
    pub partner_region: String,
    pub cross_direction: String,
    /// 办件查询 code, sealed.
    pub query_code_sealed: Option<Vec<u8>>,
    pub delivery_address_sealed: Option<Vec<u8>>,
    pub free_mailing: bool,
    pub mail_status: String,
    pub mail_status_at: Option<DateTime<Utc>>,
    pub pickup_code_sealed: Option<Vec<u8>>,
    pub picked_up_at: Option<DateTime<Utc>>,
    /// Every material with its file and review, in the order the case lists them.
    pub material_rows: Vec<crate::material::MaterialRow>,
}

const COLUMNS: &str = "id, case_number, item_code, item_version, item_name, department, task_type, channel, \
    applicant_kind, applicant_name, applicant_id_sealed, applicant_uscc, applicant_phone_sealed, owner_sub, filed_by, \
    materials, required_materials, state, resume_state, limit_value, limit_unit, deadline, clock, clock_stopped_at, \
    calendar_complete, outcome_reason, delivery_method, tracking_number, created_at, updated_at, accepted_at, decided_at, \
    helper, helper_kind, application_id, hall, partner_region, cross_direction, query_code_sealed, \
    delivery_address_sealed, free_mailing, mail_status, mail_status_at, pickup_code_sealed, picked_up_at, \
    (SELECT coalesce(json_agg(json_build_object('name', m.name, 'upload_id', m.upload_id, 'status', m.status, \
        'reason', m.reason, 'content_type', u.content_type, 'size', u.size_bytes, 'sha256', u.sha256, \
        'file_name_sealed', encode(u.file_name_sealed, 'hex')) ORDER BY array_position(cases.materials, m.name), m.name), '[]') \
     FROM case_materials m LEFT JOIN uploads u ON u.id = m.upload_id WHERE m.case_id = cases.id) AS material_rows";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<CaseRow> {
    Ok(CaseRow {
        id: r.try_get("id")?,
        case_number: r.try_get("case_number")?,
        item_code: r.try_get("item_code")?,
        item_version: r.try_get("item_version")?,
        item_name: r.try_get("item_name")?,
        department: r.try_get("department")?,
        task_type: r.try_get("task_type")?,
        channel: r.try_get("channel")?,
        applicant_kind: r.try_get("applicant_kind")?,
        applicant_name: r.try_get("applicant_name")?,
        applicant_id_sealed: r.try_get("applicant_id_sealed")?,
        applicant_uscc: r.try_get("applicant_uscc")?,
        applicant_phone_sealed: r.try_get("applicant_phone_sealed")?,
        owner_sub: r.try_get("owner_sub")?,
        filed_by: r.try_get("filed_by")?,
        materials: r.try_get("materials")?,
        required_materials: r.try_get("required_materials")?,
        state: r.try_get("state")?,
        resume_state: r.try_get("resume_state")?,
        limit_value: r.try_get("limit_value")?,
        limit_unit: r.try_get("limit_unit")?,
        deadline: r.try_get("deadline")?,
        clock: r.try_get("clock")?,
        clock_stopped_at: r.try_get("clock_stopped_at")?,
        calendar_complete: r.try_get("calendar_complete")?,
        outcome_reason: r.try_get("outcome_reason")?,
        delivery_method: r.try_get("delivery_method")?,
        tracking_number: r.try_get("tracking_number")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        accepted_at: r.try_get("accepted_at")?,
        decided_at: r.try_get("decided_at")?,
        helper: r.try_get("helper")?,
        helper_kind: r.try_get("helper_kind")?,
        application_id: r.try_get("application_id")?,
        hall: r.try_get("hall")?,
        partner_region: r.try_get("partner_region")?,
        cross_direction: r.try_get("cross_direction")?,
        query_code_sealed: r.try_get("query_code_sealed")?,
        delivery_address_sealed: r.try_get("delivery_address_sealed")?,
        free_mailing: r.try_get("free_mailing")?,
        mail_status: r.try_get("mail_status")?,
        mail_status_at: r.try_get("mail_status_at")?,
        pickup_code_sealed: r.try_get("pickup_code_sealed")?,
        picked_up_at: r.try_get("picked_up_at")?,
        material_rows: r
            .try_get::<sqlx::types::Json<Vec<crate::material::MaterialRow>>, _>("material_rows")?
            .0,
    })
}

/// Everything a new case stores, validated by the API layer.
pub struct NewCase {
    pub item_code: String,
    pub item_version: i32,
    pub item_name: String,
    pub department: String,
    pub task_type: String,
    pub channel: String,
    pub applicant_kind: String,
    pub applicant_name: String,
    pub applicant_id_sealed: Option<Vec<u8>>,
    pub applicant_id_hash: Option<Vec<u8>>,
    pub applicant_uscc: String,
    pub applicant_phone_sealed: Vec<u8>,
    pub applicant_phone_hash: Vec<u8>,
    pub owner_sub: String,
    pub filed_by: String,
    pub materials: Vec<String>,
    /// The materials of `materials` given with a file (the upload, by the filer).
    pub material_files: Vec<(String, Uuid)>,
    pub required_materials: Vec<String>,
    pub limit: Limit,
    /// The hall whose comprehensive window receives it ('' otherwise).
    pub hall: String,
    pub partner_region: String,
    pub cross_direction: String,
    pub query_code_sealed: Vec<u8>,
}

/// Case numbers: `<region>-<yyyymmdd>-<daily sequence>`, e.g. `340522-20240208-000017`.
///
/// Each replica reserves a block of [`NUMBER_BLOCK`] numbers of the day from the database in one
/// short statement and hands them out from memory, so filings never queue behind one row lock
/// and one commit each. Numbers are unique and never reused; a replica that stops leaves the
/// rest of its block unused (a gap, which the numbering allows).
pub struct Numbers {
    region: String,
    block: tokio::sync::Mutex<Option<(chrono::NaiveDate, i32, i32)>>,
}

pub const NUMBER_BLOCK: i32 = 50;

impl Numbers {
    pub fn new(region: &str) -> Self {
        Self {
            region: region.to_string(),
            block: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn next(&self, pool: &PgPool, now: DateTime<Utc>) -> Result<String> {
        let day = now.with_timezone(&SHANGHAI).date_naive();
        let mut block = self.block.lock().await;
        let n = match *block {
            Some((d, next, end)) if d == day && next <= end => {
                *block = Some((d, next + 1, end));
                next
            }
            _ => {
                let last: i32 = sqlx::query_scalar(
                    "INSERT INTO case_number_days (region, day, last) VALUES ($1, $2, $3)
                     ON CONFLICT (region, day) DO UPDATE SET last = case_number_days.last + $3
                     RETURNING last",
                )
                .bind(&self.region)
                .bind(day)
                .bind(NUMBER_BLOCK)
                .fetch_one(pool)
                .await?;
                let first = last - NUMBER_BLOCK + 1;
                *block = Some((day, first + 1, last));
                first
            }
        };
        Ok(format!("{}-{}-{n:06}", self.region, day.format("%Y%m%d")))
    }
}

/// Files a case; a repeated (caller, request_id) returns the case filed first.
///
/// Three round trips on the way (four with a request id): BEGIN, (the request's claim,) one
/// statement writing the case, its history entry and its event, COMMIT. The case number comes
/// from the replica's reserved block, taken before the transaction: a refill uses a connection
/// of its own, which a filing holding its transaction's connection must not wait for (with every
/// pooled connection in such a transaction, none would be left). A retry that finds its claim
/// taken answers with the first case; the number it took stays unused (a gap, as a block left
/// by a stopped replica leaves).
pub async fn file(
    pool: &PgPool,
    numbers: &Numbers,
    caller: &str,
    request_id: &str,
    c: NewCase,
) -> Result<CaseRow> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let number = numbers.next(pool, now).await?;
    let mut tx = pool.begin().await?;
    if !request_id.is_empty() {
        let claimed = sqlx::query(
            "INSERT INTO case_requests (caller, request_id, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(caller)
        .bind(request_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            // A concurrent retry won; answer with its case.
            drop(tx);
            let existing = find_request(pool, caller, request_id)
                .await?
                .ok_or_else(|| Error::internal("case request vanished"))?;
            return get(pool, existing).await;
        }
    }
    let filed = insert_case(&mut tx, id, &number, caller, &c, now, None).await?;
    tx.commit().await?;
    Ok(filed)
}

async fn find_request(pool: &PgPool, caller: &str, request_id: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT case_id FROM case_requests WHERE caller = $1 AND request_id = $2",
    )
    .bind(caller)
    .bind(request_id)
    .fetch_optional(pool)
    .await?)
}

/// Inserts a new case (and its filing record and event) in the caller's transaction.
pub async fn insert_case(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    number: &str,
    caller: &str,
    c: &NewCase,
    now: DateTime<Utc>,
    application_id: Option<Uuid>,
) -> Result<CaseRow> {
    // Before the case row, so that the row the insert returns lists them (the foreign key is
    // checked at commit).
    crate::material::insert_for_case(tx, id, caller, &c.materials, &c.material_files).await?;
    // The case, its first history entry and its event in one statement: one round trip where
    // three would queue behind each other.
    let (code, _) = crate::lifecycle::process_code("file", "", "received");
    let event = serde_json::json!({
        "case_id": id, "case_number": number, "item_code": c.item_code, "item_version": c.item_version,
        "department": c.department, "channel": c.channel, "filed_at": now,
    });
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH filed AS (
           INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type, channel,
            applicant_kind, applicant_name, applicant_id_sealed, applicant_id_hash, applicant_uscc,
            applicant_phone_sealed, applicant_phone_hash, owner_sub, filed_by, materials, required_materials,
            state, limit_value, limit_unit, created_at, updated_at, application_id, hall, partner_region,
            cross_direction, query_code_sealed)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,'received',$20,$21,$22,$22,$23,$24,
                 $25,$26,$27)
           RETURNING {COLUMNS}),
         history AS (
           INSERT INTO case_transitions (case_id, actor, action, from_state, to_state, reason, code, hall)
           SELECT id, $28, 'file', '', 'received', '', $29, $24 FROM filed),
         event AS (
           INSERT INTO outbox (event_id, topic, payload) SELECT $30, $31, $32 FROM filed)
         SELECT * FROM filed"
    )))
    .bind(id)
    .bind(&number)
    .bind(&c.item_code)
    .bind(c.item_version)
    .bind(&c.item_name)
    .bind(&c.department)
    .bind(&c.task_type)
    .bind(&c.channel)
    .bind(&c.applicant_kind)
    .bind(&c.applicant_name)
    .bind(&c.applicant_id_sealed)
    .bind(&c.applicant_id_hash)
    .bind(&c.applicant_uscc)
    .bind(&c.applicant_phone_sealed)
    .bind(&c.applicant_phone_hash)
    .bind(&c.owner_sub)
    .bind(&c.filed_by)
    .bind(&c.materials)
    .bind(&c.required_materials)
    .bind(c.limit.value as i32)
    .bind(c.limit.unit.as_str())
    .bind(now)
    .bind(application_id)
    .bind(&c.hall)
    .bind(&c.partner_region)
    .bind(&c.cross_direction)
    .bind(&c.query_code_sealed)
    .bind(caller)
    .bind(code as i32)
    .bind(Uuid::now_v7())
    .bind(CASE_FILED)
    .bind(event)
    .fetch_one(&mut **tx)
    .await?;
    from_row(&row)
}

/// One history entry: who, where (`hall`: a comprehensive window's hall, or ''), what.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    actor: &str,
    hall: &str,
    action: &str,
    from: &str,
    to: &str,
    reason: &str,
) -> Result<()> {
    let (code, _) = crate::lifecycle::process_code(action, from, to);
    sqlx::query(
        "INSERT INTO case_transitions (case_id, actor, action, from_state, to_state, reason, code, hall)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(id)
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(reason)
    .bind(code as i32)
    .bind(hall)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The member cases of a bundle application, in filing order; `lock` takes their row locks
/// (in id order, the order every writer locks them in).
pub async fn members_of(
    conn: &mut sqlx::PgConnection,
    application_id: Uuid,
    lock: bool,
) -> Result<Vec<CaseRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE application_id = $1 ORDER BY id{}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(application_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The case under its row lock, once `may` (which sees the locked row) lets the caller act:
/// every change to a case starts here, so of two callers at once the second sees the first's
/// result.
pub(crate) async fn lock(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    may: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(id))?;
    let c = from_row(&row)?;
    may(&c)?;
    Ok(c)
}

/// The cases that name an upload among their materials.
pub async fn naming_upload(pool: &PgPool, upload: Uuid) -> Result<Vec<CaseRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE id IN (SELECT case_id FROM case_materials WHERE upload_id = $1)"
    )))
    .bind(upload)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A case by its number (办件查询).
pub async fn by_number(pool: &PgPool, number: &str) -> Result<Option<CaseRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE case_number = $1"
    )))
    .bind(number)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<CaseRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(not_found(id)),
    }
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("CASE_NOT_FOUND", format!("case {id} does not exist"))
}

/// Whose cases a listing shows.
pub enum Scope {
    Owner(String),
    Department(String),
    All,
}

pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    state: &str,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<CaseRow>, String)> {
    let limit = page::page_size(page_size)?;
    let (scope_sql, scope_val, scope_name) = match scope {
        Scope::Owner(s) => ("owner_sub = $1", s.as_str(), "owner"),
        Scope::Department(d) => ("department = $1", d.as_str(), "department"),
        Scope::All => ("$1 = ''", "", "all"),
    };
    let fp = page::fingerprint(&["cases", scope_name, scope_val, state]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE {scope_sql} AND ($2 = '' OR state = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5"
    )))
    .bind(scope_val)
    .bind(state)
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut cases = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut cases, limit, fp, |c| {
        page::newest_first_key(c.created_at, c.id)
    });
    Ok((cases, next))
}

pub struct Transition {
    pub time: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
    pub hall: String,
}

/// The case's process records (transitions with a national code, 部门开始办理 included), in order.
pub async fn process_steps(pool: &PgPool, id: Uuid) -> Result<Vec<Transition>> {
    let rows = sqlx::query(
        "SELECT at, actor, action, from_state, to_state, reason, hall FROM case_transitions
          WHERE case_id = $1 AND code > 0 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(transition_from_row).collect()
}

fn transition_from_row(r: &sqlx::postgres::PgRow) -> Result<Transition> {
    Ok(Transition {
        time: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        from_state: r.try_get("from_state")?,
        to_state: r.try_get("to_state")?,
        reason: r.try_get("reason")?,
        hall: r.try_get("hall")?,
    })
}

pub async fn history(pool: &PgPool, id: Uuid) -> Result<Vec<Transition>> {
    let rows = sqlx::query(
        // A department that accepts begins handling in the same breath: that record is for the
        // exchange (部门开始办理), not news in the case's own history.
        "SELECT at, actor, action, from_state, to_state, reason, hall FROM case_transitions t
          WHERE case_id = $1
            AND NOT (action = 'start_handling' AND EXISTS (
                SELECT 1 FROM case_transitions a
                 WHERE a.case_id = t.case_id AND a.xid = t.xid AND a.action = 'accept'))
          ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(transition_from_row).collect()
}

/// The parameters of one transition, validated by the API layer.
pub struct Act<'a> {
    pub action: Action,
    pub actor: &'a str,
    pub reason: &'a str,
    pub outcome: &'a str,
    pub delivery_method: &'a str,
    pub tracking_number: &'a str,
    pub add_materials: &'a [String],
    /// Of `add_materials`, those handed in with a file (the upload, by the actor).
    pub add_files: &'a [(String, Uuid)],
    /// When the transition takes effect, if not now (a case accepted on receipt under
    /// 行政许可法 Art. 32 counts as accepted when it was received).
    pub as_of: Option<DateTime<Utc>>,
    /// The history's name of the transition when it differs from the action's
    /// (`accept_on_receipt`, `reject_out_of_scope`): it chooses the exchange code.
    pub record_as: Option<&'static str>,
    /// The hall of a comprehensive window acting ('' for the department or the applicant).
    pub hall: &'a str,
}

/// Applies a transition under a row lock. `may_act` decides, on the locked row, whether the
/// caller may; the state check follows, so a clerk who lost a race learns the state it is in now.
pub async fn transition(
    pool: &PgPool,
    calendar: &Calendar,
    id: Uuid,
    act: Act<'_>,
    may_act: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut tx = pool.begin().await?;
    let c = transition_in(&mut tx, calendar, id, act, may_act).await?;
    tx.commit().await?;
    Ok(c)
}

/// [`transition`] in the caller's transaction (several cases changed together: a bundle
/// application withdrawn or delivered as one).
pub async fn transition_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    calendar: &Calendar,
    id: Uuid,
    act: Act<'_>,
    may_act: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut c = lock(tx, id, may_act).await?;
    let action = act.action;
    if !action.from_states().contains(&c.state.as_str()) {
        return Err(Error::failed_precondition(
            "CASE_STATE",
            format!(
                "case {} is {}; {} needs it to be {}",
                c.case_number,
                c.state,
                action.name(),
                action.from_states().join(" or ")
            ),
        )
        .with_metadata("state", c.state.clone()));
    }
    // PostgreSQL keeps microseconds: the answer shows exactly what a later read will.
    let now = act.as_of.unwrap_or_else(Utc::now).trunc_subsecs(6);
    let from_state = c.state.clone();
    let to_state = crate::lifecycle::next_state(action, &c.resume_state, act.outcome);
    let unit = Unit::parse(&c.limit_unit).unwrap_or(Unit::WorkingDays);
    let cal_err = |e: crate::calendar::CalendarError| Error::internal(e);
    match action.clock() {
        Clock::Start => {
            let d = calendar
                .deadline(now, Limit::new(c.limit_value.max(0) as u32, unit))
                .map_err(cal_err)?;
            c.deadline = Some(d.at.to_utc());
            c.calendar_complete = d.calendar_complete();
            c.clock = "running".into();
            c.accepted_at = Some(now);
        }
        Clock::Stop => {
            if c.clock == "running" {
                c.clock = "stopped".into();
                c.clock_stopped_at = Some(now);
            }
        }
        Clock::Resume => {
            if c.clock == "stopped"
                && let (Some(deadline), Some(stopped)) = (c.deadline, c.clock_stopped_at)
            {
                let d = calendar
                    .resume(deadline, unit, stopped, now)
                    .map_err(cal_err)?;
                c.deadline = Some(d.at.to_utc());
                c.calendar_complete &= d.calendar_complete();
                c.clock = "running".into();
                c.clock_stopped_at = None;
            }
        }
        Clock::Finish => {
            c.clock = "none".into();
            c.clock_stopped_at = None;
        }
        Clock::Unchanged => {}
    }
    match action {
        Action::RequestCorrection => c.resume_state = from_state.clone(),
        Action::SubmitCorrection => {
            c.resume_state = String::new();
            for m in act.add_materials {
                if !c.materials.contains(m) {
                    c.materials.push(m.clone());
                }
            }
        }
        Action::Reject | Action::Decide | Action::Revoke => {
            c.outcome_reason = act.reason.to_string();
            if action == Action::Decide {
                c.decided_at = Some(now);
            }
        }
        Action::Deliver => {
            c.delivery_method = act.delivery_method.to_string();
            c.tracking_number = act.tracking_number.to_string();
        }
        _ => {}
    }
    c.state = to_state.clone();
    c.updated_at = Utc::now().trunc_subsecs(6);
    sqlx::query(
        "UPDATE cases SET state = $2, resume_state = $3, deadline = $4, clock = $5, clock_stopped_at = $6,
            calendar_complete = $7, outcome_reason = $8, delivery_method = $9, tracking_number = $10,
            materials = $11, updated_at = $12, accepted_at = $13, decided_at = $14,
            handling_office_secs = coalesce($15, handling_office_secs)
         WHERE id = $1",
    )
    .bind(id)
    .bind(&c.state)
    .bind(&c.resume_state)
    .bind(c.deadline)
    .bind(&c.clock)
    .bind(c.clock_stopped_at)
    .bind(c.calendar_complete)
    .bind(&c.outcome_reason)
    .bind(&c.delivery_method)
    .bind(&c.tracking_number)
    .bind(&c.materials)
    .bind(c.updated_at)
    .bind(c.accepted_at)
    .bind(c.decided_at)
    .bind(if action == Action::Decide {
        crate::case_counts::handling_secs(calendar, c.accepted_at, c.decided_at)
    } else {
        None
    })
    .execute(&mut **tx)
    .await?;
    if action == Action::SubmitCorrection && !act.add_materials.is_empty() {
        crate::material::resubmit(tx, id, act.actor, act.add_materials, act.add_files).await?;
        c.material_rows = crate::material::rows_of(tx, id).await?;
    }
    record(
        tx,
        id,
        act.actor,
        act.hall,
        act.record_as.unwrap_or(action.name()),
        &from_state,
        &to_state,
        act.reason,
    )
    .await?;
    match action {
        Action::Accept => {
            if act.record_as.is_none() && act.hall.is_empty() {
                // Accepted by the department itself, which begins handling it (部门开始办理)
                // at once; a case accepted at a comprehensive window or by law (Art. 32)
                // begins when the department takes it.
                record(
                    tx,
                    id,
                    act.actor,
                    "",
                    "start_handling",
                    &to_state,
                    &to_state,
                    "",
                )
                .await?;
            }
            outbox::enqueue(
                tx,
                CASE_ACCEPTED,
                &serde_json::json!({
                    "case_id": c.id, "case_number": c.case_number, "item_code": c.item_code,
                    "item_name": c.item_name, "department": c.department, "deadline": c.deadline,
                    "owner_sub": c.owner_sub,
                }),
            )
            .await?;
        }
        Action::Decide => {
            // No personal numbers in events: the licensee is identified by USCC (public).
            outbox::enqueue(
                tx,
                CASE_DECIDED,
                &serde_json::json!({
                    "case_id": c.id, "case_number": c.case_number, "item_code": c.item_code,
                    "item_version": c.item_version, "item_name": c.item_name, "task_type": c.task_type,
                    "department": c.department, "outcome": c.state, "applicant_kind": c.applicant_kind,
                    "applicant_name": if c.applicant_kind == "legal_person" { c.applicant_name.as_str() } else { "" },
                    "applicant_uscc": c.applicant_uscc, "decided_at": c.decided_at,
                    "outcome_reason": c.outcome_reason, "owner_sub": c.owner_sub,
                }),
            )
            .await?;
        }
        // What the applicant hears of (the inbox): the account only, never personal numbers.
        Action::Reject => {
            outbox::enqueue(
                tx,
                CASE_REJECTED,
                &serde_json::json!({
                    "case_id": c.id, "case_number": c.case_number, "item_code": c.item_code,
                    "item_name": c.item_name, "department": c.department,
                    "reason": c.outcome_reason, "owner_sub": c.owner_sub,
                }),
            )
            .await?;
        }
        Action::RequestCorrection => {
            outbox::enqueue(
                tx,
                CASE_CORRECTION_REQUESTED,
                &serde_json::json!({
                    "case_id": c.id, "case_number": c.case_number, "item_code": c.item_code,
                    "item_name": c.item_name, "department": c.department, "reason": act.reason,
                    "corrections": crate::material::correction_list(&c).iter()
                        .map(|e| serde_json::json!({"name": e.name, "reason": e.reason}))
                        .collect::<Vec<_>>(),
                    "owner_sub": c.owner_sub,
                }),
            )
            .await?;
        }
        Action::Deliver => {
            outbox::enqueue(
                tx,
                CASE_DELIVERED,
                &serde_json::json!({
                    "case_id": c.id, "case_number": c.case_number, "item_code": c.item_code,
                    "item_name": c.item_name, "department": c.department,
                    "method": c.delivery_method, "tracking_number": c.tracking_number,
                    "owner_sub": c.owner_sub,
                }),
            )
            .await?;
        }
        _ => {}
    }
    Ok(c)
}

/// How a result goes out, beyond the method (sealed by the API layer).
pub struct Delivery {
    pub address_sealed: Option<Vec<u8>>,
    pub free_mailing: bool,
    pub pickup_code_sealed: Option<Vec<u8>>,
}

/// Delivers (the transition) and records how, in the caller's transaction.
pub async fn deliver_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    calendar: &Calendar,
    id: Uuid,
    act: Act<'_>,
    how: &Delivery,
    may_act: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    transition_in(tx, calendar, id, act, may_act).await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE cases SET delivery_address_sealed = $2, free_mailing = $3, pickup_code_sealed = $4,
                mail_status = CASE WHEN delivery_method = 'ems' THEN 'posted' ELSE '' END,
                mail_status_at = CASE WHEN delivery_method = 'ems' THEN now() END
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&how.address_sealed)
    .bind(how.free_mailing)
    .bind(&how.pickup_code_sealed)
    .fetch_one(&mut **tx)
    .await?;
    from_row(&row)
}

/// The post's report on an EMS delivery: posted → delivered | returned (a returned result may
/// be posted again).
pub async fn set_mail_status(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    status: &str,
    may: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut tx = pool.begin().await?;
    let c = lock(&mut tx, id, may).await?;
    if c.delivery_method != "ems" || c.state != "delivered" {
        return Err(Error::failed_precondition(
            "CASE_STATE",
            format!("case {} was not delivered by EMS", c.case_number),
        ));
    }
    let allowed = match status {
        "delivered" | "returned" => c.mail_status == "posted",
        "posted" => c.mail_status == "returned",
        _ => false,
    };
    if !allowed {
        return Err(Error::failed_precondition(
            "MAIL_STATUS",
            format!(
                "the mail of case {} is {}; it cannot become {status}",
                c.case_number, c.mail_status
            ),
        ));
    }
    sqlx::query("UPDATE cases SET mail_status = $2, mail_status_at = now() WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(&mut *tx)
        .await?;
    record(
        &mut tx,
        id,
        actor,
        "",
        "mail_status",
        &c.state,
        &c.state,
        status,
    )
    .await?;
    tx.commit().await?;
    get(pool, id).await
}

/// The result picked up at the window: `matches` checks the code on the locked row.
pub async fn confirm_pickup(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    hall: &str,
    may: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut tx = pool.begin().await?;
    let c = lock(&mut tx, id, may).await?;
    if c.picked_up_at.is_some() {
        return Err(Error::failed_precondition(
            "PICKED_UP",
            format!("the result of case {} was picked up already", c.case_number),
        ));
    }
    sqlx::query("UPDATE cases SET picked_up_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, id, actor, hall, "pickup", &c.state, &c.state, "").await?;
    tx.commit().await?;
    get(pool, id).await
}

/// 部门开始办理: the department takes up a case a comprehensive window accepted (its own
/// acceptance includes it). Once per case: asking again answers the case as it is.
pub async fn start_handling(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    may: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut tx = pool.begin().await?;
    let c = lock(&mut tx, id, may).await?;
    if c.state != "accepted" {
        return Err(Error::failed_precondition(
            "CASE_STATE",
            format!(
                "case {} is {}; start needs it to be accepted",
                c.case_number, c.state
            ),
        )
        .with_metadata("state", c.state.clone()));
    }
    let started: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM case_transitions WHERE case_id = $1 AND action = 'start_handling')",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if !started {
        record(
            &mut tx,
            id,
            actor,
            "",
            "start_handling",
            &c.state,
            &c.state,
            "",
        )
        .await?;
        tx.commit().await?;
    }
    Ok(c)
}

/// Emitted when a case changes department.
pub const CASE_ROUTED: &str = "cases.case.routed";

/// 转办: moves an open case to `to` under a row lock (of two routings at once, the second
/// finds the case no longer its department's). `may` checks the caller on the locked row.
pub async fn route(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    to: &str,
    reason: &str,
    may: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut tx = pool.begin().await?;
    let c = lock(&mut tx, id, may).await?;
    const OPEN: &[&str] = &["received", "accepted", "correction", "special_procedure"];
    if !OPEN.contains(&c.state.as_str()) {
        return Err(Error::failed_precondition(
            "CASE_STATE",
            format!(
                "case {} is {}; only a case not yet decided can be routed",
                c.case_number, c.state
            ),
        )
        .with_metadata("state", c.state.clone()));
    }
    if c.department == to {
        return Err(Error::invalid(
            "to_department",
            "is the handling department already",
        ));
    }
    sqlx::query("UPDATE cases SET department = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO case_routes (case_id, from_department, to_department, reason, actor)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(&c.department)
    .bind(to)
    .bind(reason)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    record(
        &mut tx,
        id,
        actor,
        "",
        "route",
        &c.state,
        &c.state,
        &format!("{} → {to}: {reason}", c.department),
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        CASE_ROUTED,
        &serde_json::json!({
            "case_id": c.id, "case_number": c.case_number, "item_code": c.item_code,
            "from_department": c.department, "to_department": to, "state": c.state,
        }),
    )
    .await?;
    tx.commit().await?;
    get(pool, id).await
}

/// Why a case is accepted by the sweeper, as its history says.
pub const ACCEPTED_ON_RECEIPT: &str =
    "行政许可法第三十二条：收到申请之日起五个工作日内未一次告知补正，自收到申请之日起即为受理";

/// 行政许可法 Art. 32: an application whose applicant was not told of missing materials within
/// 5 working days of receipt counts as accepted on the day it was received. Accepts such
/// `received` cases, each once (the transition's row lock and state check make a second
/// sweeper, or a clerk acting at the same moment, a no-op), with the deadline counted from
/// receipt. Returns how many it accepted.
pub async fn accept_unanswered(pool: &PgPool, calendar: &Calendar) -> Result<usize> {
    // Five working days are at least five days: the index narrows to those, the calendar
    // decides.
    let candidates: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, created_at FROM cases
          WHERE state = 'received' AND created_at < now() - interval '5 days'
          ORDER BY created_at LIMIT 500",
    )
    .fetch_all(pool)
    .await?;
    let mut accepted = 0;
    for (id, received) in candidates {
        let answer_by = calendar
            .deadline(received, Limit::new(5, Unit::WorkingDays))
            .map_err(Error::internal)?;
        if answer_by.at.to_utc() > Utc::now() {
            continue;
        }
        let act = Act {
            action: Action::Accept,
            actor: "system",
            reason: ACCEPTED_ON_RECEIPT,
            outcome: "",
            delivery_method: "",
            tracking_number: "",
            add_materials: &[],
            add_files: &[],
            as_of: Some(received),
            record_as: Some("accept_on_receipt"),
            hall: "",
        };
        match transition(pool, calendar, id, act, |_| Ok(())).await {
            Ok(_) => accepted += 1,
            Err(e) if e.reason == "CASE_STATE" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(accepted)
}

pub const CASE_OVERDUE: &str = "cases.case.overdue";

/// Marks running cases past their deadline as overdue and emits `cases.case.overdue` for each,
/// in one transaction. Rows another replica is sweeping are skipped (SKIP LOCKED) and a case is
/// marked only once, so every overdue case gets exactly one event however many replicas sweep.
pub async fn sweep_overdue(pool: &PgPool) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "WITH due AS (
            SELECT id FROM cases
            WHERE clock = 'running' AND deadline < now() AND NOT overdue_notified
            ORDER BY deadline LIMIT 500
            FOR UPDATE SKIP LOCKED
        )
        UPDATE cases c SET overdue_notified = true FROM due WHERE c.id = due.id
        RETURNING c.id, c.case_number, c.item_code, c.item_name, c.department, c.deadline",
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        let id: Uuid = r.try_get("id")?;
        let deadline: Option<DateTime<Utc>> = r.try_get("deadline")?;
        outbox::enqueue(
            &mut tx,
            CASE_OVERDUE,
            &serde_json::json!({
                "case_id": id,
                "case_number": r.try_get::<String, _>("case_number")?,
                "item_code": r.try_get::<String, _>("item_code")?,
                "item_name": r.try_get::<String, _>("item_name")?,
                "department": r.try_get::<String, _>("department")?,
                "deadline": deadline,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// Assigns a helper (帮办代办) to a case and records it in the history; `may` checks the caller.
pub async fn assign_helper(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    helper: &str,
    kind: &str,
    note: &str,
    may: impl FnOnce(&CaseRow) -> Result<()>,
) -> Result<CaseRow> {
    let mut tx = pool.begin().await?;
    let c = lock(&mut tx, id, may).await?;
    sqlx::query("UPDATE cases SET helper = $2, helper_kind = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(helper)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    let reason = format!(
        "{kind} {helper}{}",
        if note.is_empty() {
            String::new()
        } else {
            format!(": {note}")
        }
    );
    record(
        &mut tx,
        id,
        actor,
        "",
        "assign_helper",
        &c.state,
        &c.state,
        &reason,
    )
    .await?;
    tx.commit().await?;
    get(pool, id).await
}

/// Announces each running case as it enters its warning period (黄灯: the last fifth of its
/// time, at least the last working day), once, to its department and applicant
/// (`cases.case.deadline_warning`). A case already past its deadline is only marked: the
/// overdue sweep tells of it.
pub async fn warn_deadlines(pool: &PgPool, calendar: &Calendar) -> Result<usize> {
    use crate::calendar::Warning;
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, case_number, item_code, item_name, department, owner_sub, accepted_at, deadline
           FROM cases
          WHERE clock = 'running' AND NOT deadline_warned AND deadline < now() + interval '30 days'
          ORDER BY deadline LIMIT 2000
          FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let mut marked: Vec<Uuid> = Vec::new();
    let mut warned = 0;
    for r in &rows {
        let id: Uuid = r.try_get("id")?;
        let deadline: Option<DateTime<Utc>> = r.try_get("deadline")?;
        let started: Option<DateTime<Utc>> = r.try_get("accepted_at")?;
        let Some(deadline) = deadline else { continue };
        match calendar.warning(now, started.unwrap_or(now), deadline) {
            Ok(Warning::Yellow) => {
                outbox::enqueue(
                    &mut tx,
                    CASE_DEADLINE_WARNING,
                    &serde_json::json!({
                        "case_id": id,
                        "case_number": r.try_get::<String, _>("case_number")?,
                        "item_code": r.try_get::<String, _>("item_code")?,
                        "item_name": r.try_get::<String, _>("item_name")?,
                        "department": r.try_get::<String, _>("department")?,
                        "owner_sub": r.try_get::<String, _>("owner_sub")?,
                        "deadline": deadline,
                    }),
                )
                .await?;
                marked.push(id);
                warned += 1;
            }
            Ok(Warning::Red) => marked.push(id),
            Ok(Warning::None) | Err(_) => {}
        }
    }
    sqlx::query("UPDATE cases SET deadline_warned = true WHERE id = ANY($1)")
        .bind(&marked)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(warned)
}
