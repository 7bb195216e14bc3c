//! Storing a batch of events durably, and folding stored events into incidents.
//!
//! Ingest is one statement per batch: a multi-row insert of the events (`ON CONFLICT DO
//! NOTHING`: a replay adds nothing); each row records the id of the transaction that stored it
//! (`ingest_xid`). The acknowledgement the platform gets means the batch is safe.
//!
//! Folding runs apart, one folder at a time across replicas (a transaction-level advisory
//! lock), through the stored events in transaction-id order: from its saved position up to the
//! oldest transaction still running (all below it have finished, so no event can appear there
//! later), a bounded range at a time. In one transaction it reads those events and applies them
//! — the current incident of each fingerprint, the new
//! incidents (attributed to their owning unit by longest-prefix match in the same statement),
//! the updated ones, the per-day counts, and the outbox rows for new high-severity incidents.
//! A fixed number of statements per chunk, so the busier the feed, the cheaper each event; the
//! saved position moves in the same transaction, so each event is folded exactly once.
//! (A transaction left open anywhere in the database holds folding back until it ends.)

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde_json::json;
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::error::Result;

use crate::event::{Accepting, NewEvent, rank};

/// The event a new (or newly high) high-severity incident publishes.
pub const INCIDENT_OPENED: &str = "alerts.incident.opened";

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub accepted: u32,
    pub duplicate: u32,
}

/// What one fold did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    pub events: usize,
    pub incidents_opened: usize,
    /// Another folder held the lock; nothing was done.
    pub busy: bool,
}

/// A queued event, as folding sees it.
struct Queued {
    fingerprint: String,
    category: String,
    rule: String,
    asset: String,
    peer: String,
    severity: &'static str,
    occurred_at: DateTime<Utc>,
}

/// Monthly partitions of `events` (UTC months), created when first needed and dropped whole
/// when older than the retention.
pub struct Partitions {
    retention_months: u32,
    known: Mutex<HashSet<i32>>,
}

/// Months since year 0: a partition's identity.
fn month_index(t: DateTime<Utc>) -> i32 {
    t.year() * 12 + t.month0() as i32
}

fn month_start(index: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(
        index.div_euclid(12),
        index.rem_euclid(12) as u32 + 1,
        1,
        0,
        0,
        0,
    )
    .single()
    .unwrap_or_default()
}

fn partition_name(index: i32) -> String {
    format!(
        "events_p{:04}{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

impl Partitions {
    pub fn new(retention_months: u32) -> Self {
        Self {
            retention_months: retention_months.max(1),
            known: Mutex::new(HashSet::new()),
        }
    }

    /// The `occurred_at` the service accepts now: from the first day of the oldest month
    /// retained to five minutes ahead of this clock.
    pub fn accepting(&self, now: DateTime<Utc>) -> Accepting {
        Accepting {
            oldest: month_start(month_index(now) - self.retention_months as i32 + 1),
            newest: now + Duration::minutes(5),
        }
    }

    /// Creates the partitions of these events' months that this process has not seen yet.
    pub async fn ensure(&self, pool: &PgPool, events: &[NewEvent]) -> Result<()> {
        let wanted: Vec<i32> = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            let mut w: Vec<i32> = events
                .iter()
                .map(|e| month_index(e.occurred_at))
                .filter(|m| !known.contains(m))
                .collect();
            w.sort_unstable();
            w.dedup();
            w
        };
        for m in wanted {
            let mut tx = pool.begin().await?;
            // Replicas creating the same month queue here instead of failing on each other.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('alerts.events.partitions', 0))",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ('{}') TO ('{}')",
                partition_name(m),
                month_start(m).to_rfc3339(),
                month_start(m + 1).to_rfc3339()
            )))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            self.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(m);
        }
        Ok(())
    }

    /// Drops the partitions wholly older than the retention; returns their names.
    pub async fn drop_expired(&self, pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<String>> {
        let oldest_kept = month_index(self.accepting(now).oldest);
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent
              WHERE p.relname = 'events' AND c.relname ~ '^events_p[0-9]{6}$'",
        )
        .fetch_all(pool)
        .await?;
        let mut dropped = Vec::new();
        for name in names {
            let (Ok(y), Ok(mo)) = (name[8..12].parse::<i32>(), name[12..14].parse::<i32>()) else {
                continue;
            };
            let m = y * 12 + mo - 1;
            if m < oldest_kept {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                    .execute(pool)
                    .await?;
                self.known
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&m);
                dropped.push(name);
            }
        }
        // The identities go with their events (a replay older than the retention is refused
        // by `accepting` anyway).
        sqlx::query("DELETE FROM event_keys WHERE occurred_at < $1")
            .bind(month_start(oldest_kept))
            .execute(pool)
            .await?;
        Ok(dropped)
    }
}

/// An incident as this batch leaves it.
struct Touched {
    id: Uuid,
    fingerprint: String,
    is_new: bool,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    added: i64,
    severity: &'static str,
    /// Before this batch (existing incidents).
    old_severity: String,
    /// The event that opened it (new incidents).
    opener: usize,
}

const SHANGHAI: i32 = 8 * 3600;

fn day_of(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&FixedOffset::east_opt(SHANGHAI).unwrap_or(FixedOffset::east_opt(0).unwrap()))
        .date_naive()
}

fn severity_of(s: &str) -> &'static str {
    match rank(s) {
        3 => "high",
        2 => "medium",
        _ => "low",
    }
}

/// Stores `events` (validated, partitions ensured) and queues the new ones for folding, in one
/// statement.
pub async fn store(pool: &PgPool, events: &[NewEvent]) -> Result<Stored> {
    if events.is_empty() {
        return Ok(Stored::default());
    }
    let n = events.len();
    let mut source = Vec::with_capacity(n);
    let mut source_ref = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    let mut src_ip = Vec::with_capacity(n);
    let mut src_port = Vec::with_capacity(n);
    let mut dst_ip = Vec::with_capacity(n);
    let mut dst_port = Vec::with_capacity(n);
    let mut category = Vec::with_capacity(n);
    let mut severity = Vec::with_capacity(n);
    let mut rule = Vec::with_capacity(n);
    let mut phase = Vec::with_capacity(n);
    let mut raw = Vec::with_capacity(n);
    for e in events {
        source.push(e.source.as_str());
        source_ref.push(e.source_ref.as_str());
        occurred.push(e.occurred_at);
        src_ip.push(e.src_ip.as_str());
        src_port.push(e.src_port);
        dst_ip.push(e.dst_ip.as_str());
        dst_port.push(e.dst_port);
        category.push(e.category);
        severity.push(e.severity);
        rule.push(e.rule.as_str());
        phase.push(e.kill_chain_phase.as_str());
        raw.push(e.raw.as_str());
    }
    // Claim each (source, source_ref) first, in key order (one order for every writer, so
    // overlapping batches wait for each other instead of deadlocking); store only the events
    // whose key this batch claimed: a replay with another occurred_at is a duplicate too.
    let mut attempt = 0;
    let accepted = loop {
        let result = sqlx::query(
            "WITH input AS (
             SELECT DISTINCT ON (s, r) s, r, o, si, sp, di, dp, c, sv, ru, k, raw
               FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::int4[],
                           $6::text[], $7::int4[], $8::text[], $9::text[], $10::text[],
                           $11::text[], $12::text[])
                    AS t(s, r, o, si, sp, di, dp, c, sv, ru, k, raw)
              ORDER BY s, r),
         claimed AS (
             INSERT INTO event_keys (source, source_ref, occurred_at)
             SELECT s, r, o FROM input ORDER BY s, r
             ON CONFLICT DO NOTHING
             RETURNING source, source_ref)
         INSERT INTO events (source, source_ref, occurred_at, src_ip, src_port, dst_ip, dst_port,
                             category, severity, rule, kill_chain_phase, raw)
         SELECT s, r, o, si::inet, sp, di::inet, dp, c, sv, ru, k, raw::jsonb
           FROM input JOIN claimed ON claimed.source = input.s AND claimed.source_ref = input.r
         ON CONFLICT DO NOTHING",
        )
        .bind(&source)
        .bind(&source_ref)
        .bind(&occurred)
        .bind(&src_ip)
        .bind(&src_port)
        .bind(&dst_ip)
        .bind(&dst_port)
        .bind(&category)
        .bind(&severity)
        .bind(&rule)
        .bind(&phase)
        .bind(&raw)
        .execute(pool)
        .await;
        match result {
            Ok(r) => break r.rows_affected() as i64,
            // One statement, all or nothing: a lost lock race (which the key order makes rare)
            // is safe to run again, so a feed's stream does not end on it.
            Err(sqlx::Error::Database(db))
                if attempt < 3 && matches!(db.code().as_deref(), Some("40P01" | "40001")) =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(Stored {
        accepted: accepted as u32,
        duplicate: (n as i64 - accepted) as u32,
    })
}

/// Folds the events of the next finished transactions into incidents, about `max_events` at a
/// time (whole transactions: a batch is never split), unless another folder is at it. An event
/// joins its fingerprint's current incident when it occurred at most `window` after
/// that incident's last event; otherwise it opens a new incident, which becomes current.
pub async fn fold(pool: &PgPool, max_events: i64, window: Duration) -> Result<Folded> {
    let mut tx = pool.begin().await?;
    let mine: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('alerts.fold', 0))")
            .fetch_one(&mut *tx)
            .await?;
    if !mine {
        return Ok(Folded {
            busy: true,
            ..Folded::default()
        });
    }
    // Every transaction below the oldest one still running has finished.
    let (from, mut to): (i64, i64) = sqlx::query_as(
        "SELECT next_xid, pg_snapshot_xmin(pg_current_snapshot())::text::bigint
           FROM fold_state WHERE id = 1 FOR UPDATE",
    )
    .fetch_one(&mut *tx)
    .await?;
    if to <= from {
        return Ok(Folded::default());
    }
    // A backlog is folded a bounded piece at a time: stop at the transaction whose events would
    // pass `max_events` (an index-only look), but always take at least one whole transaction.
    let cut: Option<i64> = sqlx::query_scalar(
        "SELECT ingest_xid FROM events WHERE ingest_xid >= $1 AND ingest_xid < $2
          ORDER BY ingest_xid OFFSET $3 LIMIT 1",
    )
    .bind(from)
    .bind(to)
    .bind(max_events)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(cut) = cut {
        to = cut.max(from + 1);
    }
    // The fingerprint is spelled by PostgreSQL (host() of the affected address), the same for
    // every replica.
    let rows = sqlx::query(
        "SELECT category || '|' || rule || '|' || host(asset) AS fingerprint, category, rule,
                host(asset) AS asset, host(peer) AS peer, severity, occurred_at
           FROM (SELECT category, rule, severity, occurred_at,
                        CASE WHEN category = 'host_compromised' THEN src_ip ELSE dst_ip END AS asset,
                        CASE WHEN category = 'host_compromised' THEN dst_ip ELSE src_ip END AS peer
                   FROM events WHERE ingest_xid >= $1 AND ingest_xid < $2) e",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        // Nothing stored there (the folder's own transactions, other work): leave the position
        // and write nothing, so an idle folder takes no transaction ids of its own.
        return Ok(Folded::default());
    }
    sqlx::query("UPDATE fold_state SET next_xid = $1 WHERE id = 1")
        .bind(to)
        .execute(&mut *tx)
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    for r in &rows {
        events.push(Queued {
            fingerprint: r.try_get("fingerprint")?,
            category: r.try_get("category")?,
            rule: r.try_get("rule")?,
            asset: r.try_get("asset")?,
            peer: r.try_get("peer")?,
            severity: severity_of(r.try_get::<&str, _>("severity")?),
            occurred_at: r.try_get("occurred_at")?,
        });
    }
    drop(rows);
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        groups.entry(e.fingerprint.as_str()).or_default().push(i);
    }
    let fingerprints: Vec<&str> = groups.keys().copied().collect();

    // The current incident of each fingerprint.
    let heads = sqlx::query(
        "SELECT h.fingerprint, i.id, i.first_seen, i.last_seen, i.severity
           FROM incident_heads h JOIN incidents i ON i.id = h.incident_id
          WHERE h.fingerprint = ANY($1)",
    )
    .bind(&fingerprints)
    .fetch_all(&mut *tx)
    .await?;
    let mut current: HashMap<String, Touched> = HashMap::with_capacity(heads.len());
    for h in &heads {
        let fingerprint: String = h.try_get("fingerprint")?;
        let severity: String = h.try_get("severity")?;
        current.insert(
            fingerprint.clone(),
            Touched {
                id: h.try_get("id")?,
                fingerprint,
                is_new: false,
                first: h.try_get("first_seen")?,
                last: h.try_get("last_seen")?,
                added: 0,
                severity: severity_of(&severity),
                old_severity: severity,
                opener: 0,
            },
        );
    }

    // Fold the events in, in time order per fingerprint.
    let mut touched: Vec<Touched> = Vec::new();
    let mut counts: HashMap<(Uuid, NaiveDate, &'static str), i64> = HashMap::new();
    for (fp, mut idx) in groups {
        idx.sort_by_key(|&i| events[i].occurred_at);
        let mut cur = current.remove(fp);
        for i in idx {
            let e = &events[i];
            let joins = cur
                .as_ref()
                .is_some_and(|c| e.occurred_at <= c.last + window);
            if !joins {
                if let Some(done) = cur.take() {
                    touched.push(done);
                }
                cur = Some(Touched {
                    id: Uuid::now_v7(),
                    fingerprint: fp.to_string(),
                    is_new: true,
                    first: e.occurred_at,
                    last: e.occurred_at,
                    added: 0,
                    severity: e.severity,
                    old_severity: String::new(),
                    opener: i,
                });
            }
            let c = cur.as_mut().expect("set above");
            c.added += 1;
            c.first = c.first.min(e.occurred_at);
            c.last = c.last.max(e.occurred_at);
            if rank(e.severity) > rank(c.severity) {
                c.severity = e.severity;
            }
            *counts
                .entry((c.id, day_of(e.occurred_at), e.severity))
                .or_default() += 1;
        }
        if let Some(done) = cur {
            touched.push(done);
        }
    }

    // New incidents, attributed by the most specific asset range covering them.
    let new: Vec<&Touched> = touched.iter().filter(|t| t.is_new).collect();
    let mut opened_units: HashMap<Uuid, Option<String>> = HashMap::new();
    if !new.is_empty() {
        let rows = sqlx::query(
            "INSERT INTO incidents (id, fingerprint, category, rule, asset_ip, peer_ip, severity,
                                    event_count, first_seen, last_seen, unit_code, system_name, asset_cidr)
             SELECT n.id, n.fp, n.cat, n.rule, n.asset::inet, n.peer::inet, n.sev, n.cnt, n.f, n.l,
                    a.unit_code, a.system_name, a.cidr
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                           $7::text[], $8::int8[], $9::timestamptz[], $10::timestamptz[])
                    AS n(id, fp, cat, rule, asset, peer, sev, cnt, f, l)
               LEFT JOIN LATERAL (
                    SELECT unit_code, system_name, cidr FROM assets
                     WHERE cidr >>= n.asset::inet ORDER BY masklen(cidr) DESC LIMIT 1) a ON true
             RETURNING id, unit_code",
        )
        .bind(new.iter().map(|t| t.id).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.fingerprint.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| events[t.opener].category.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| events[t.opener].rule.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| events[t.opener].asset.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| events[t.opener].peer.as_str()).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.severity).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.added).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.first).collect::<Vec<_>>())
        .bind(new.iter().map(|t| t.last).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            opened_units.insert(r.try_get("id")?, r.try_get("unit_code")?);
        }
    }

    // Existing incidents grow.
    let old: Vec<&Touched> = touched.iter().filter(|t| !t.is_new).collect();
    if !old.is_empty() {
        sqlx::query(
            "UPDATE incidents i SET event_count = i.event_count + u.n, first_seen = u.f,
                    last_seen = u.l, severity = u.s, updated_at = now()
               FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::timestamptz[], $5::text[])
                    AS u(id, n, f, l, s)
              WHERE i.id = u.id",
        )
        .bind(old.iter().map(|t| t.id).collect::<Vec<_>>())
        .bind(old.iter().map(|t| t.added).collect::<Vec<_>>())
        .bind(old.iter().map(|t| t.first).collect::<Vec<_>>())
        .bind(old.iter().map(|t| t.last).collect::<Vec<_>>())
        .bind(old.iter().map(|t| t.severity).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }

    // A fingerprint's current incident changes only when a new one opened: the latest.
    let mut head: HashMap<&str, (DateTime<Utc>, Uuid)> = HashMap::new();
    for t in touched.iter().filter(|t| t.is_new) {
        let e = head.entry(t.fingerprint.as_str()).or_insert((t.last, t.id));
        if t.last > e.0 {
            *e = (t.last, t.id);
        }
    }
    if !head.is_empty() {
        let (head_fps, head_ids): (Vec<&str>, Vec<Uuid>) =
            head.into_iter().map(|(fp, (_, id))| (fp, id)).unzip();
        sqlx::query(
            "INSERT INTO incident_heads (fingerprint, incident_id)
             SELECT * FROM UNNEST($1::text[], $2::uuid[])
             ON CONFLICT (fingerprint) DO UPDATE SET incident_id = EXCLUDED.incident_id",
        )
        .bind(&head_fps)
        .bind(&head_ids)
        .execute(&mut *tx)
        .await?;
    }

    // Counts per incident, day and severity.
    let (mut c_ids, mut c_days, mut c_sevs, mut c_ns) = (vec![], vec![], vec![], vec![]);
    for ((id, day, sev), n) in counts {
        c_ids.push(id);
        c_days.push(day);
        c_sevs.push(sev);
        c_ns.push(n);
    }
    sqlx::query(
        "INSERT INTO event_counts (incident_id, day, severity, n)
         SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::text[], $4::int8[])
         ON CONFLICT (incident_id, day, severity) DO UPDATE SET n = event_counts.n + EXCLUDED.n",
    )
    .bind(&c_ids)
    .bind(&c_days)
    .bind(&c_sevs)
    .bind(&c_ns)
    .execute(&mut *tx)
    .await?;

    // High-severity incidents, new or newly high, are announced.
    for t in &touched {
        let newly_high = t.severity == "high" && (t.is_new || t.old_severity != "high");
        if !newly_high {
            continue;
        }
        let e = &events[t.opener];
        let payload = if t.is_new {
            json!({
                "incident_id": t.id, "fingerprint": t.fingerprint, "category": e.category,
                "rule": e.rule, "asset_ip": e.asset, "peer_ip": e.peer,
                "severity": t.severity, "first_seen": t.first,
                "unit_code": opened_units.get(&t.id).cloned().flatten(),
            })
        } else {
            json!({"incident_id": t.id, "severity": t.severity, "raised_from": t.old_severity})
        };
        yiwang_kit::outbox::enqueue(&mut tx, INCIDENT_OPENED, &payload).await?;
    }
    tx.commit().await?;
    Ok(Folded {
        events: events.len(),
        incidents_opened: new.len(),
        busy: false,
    })
}

/// Whether every stored event is folded into its incident.
pub async fn all_folded(pool: &PgPool) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM events WHERE ingest_xid >= (SELECT next_xid FROM fold_state WHERE id = 1))",
    )
    .fetch_one(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_utc_months_and_retention_counts_whole_months() {
        let t = Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0).unwrap();
        let m = month_index(t);
        assert_eq!(partition_name(m), "events_p202601");
        assert_eq!(partition_name(m - 1), "events_p202512");
        assert_eq!(
            month_start(m + 11).to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        let p = Partitions::new(13);
        assert_eq!(
            p.accepting(t).oldest.to_rfc3339(),
            "2025-01-01T00:00:00+00:00"
        );
        assert_eq!(
            day_of(Utc.with_ymd_and_hms(2026, 1, 31, 16, 0, 0).unwrap()).to_string(),
            "2026-02-01"
        );
    }
}
