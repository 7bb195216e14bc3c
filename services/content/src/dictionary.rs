//! The 错敏词 dictionary: managed words (wrong forms with the right one, sensitive words,
//! outdated official names with the day they changed) and the scanner built from them, rebuilt
//! when the dictionary changes (looked at no more than once a second, so every replica follows
//! the others' changes within a second).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, Violations};
use yiwang_proto::content::v1 as pb;

use crate::words::{self, Entry, Scanner};

pub const KINDS: &[&str] = &["wrong", "sensitive", "outdated"];

pub type Version = (i64, Option<DateTime<Utc>>);

/// A state of the dictionary: its word count and newest word (words are only ever added).
pub fn version_name(v: &Version) -> String {
    format!(
        "{}@{}",
        v.0,
        v.1.map(|t| t.timestamp_micros()).unwrap_or_default()
    )
}

pub struct Dictionary {
    pool: PgPool,
    built: RwLock<(Version, Arc<Scanner>)>,
    checked: Mutex<Option<Instant>>,
}

fn word_of(r: &sqlx::postgres::PgRow) -> Result<pb::Word> {
    let changed_on: Option<NaiveDate> = r.try_get("changed_on")?;
    Ok(pb::Word {
        id: r.try_get::<Uuid, _>("id")?.to_string(),
        word: r.try_get("word")?,
        kind: r.try_get("kind")?,
        suggestion: r.try_get("suggestion")?,
        changed_on: changed_on.map(|d| d.to_string()).unwrap_or_default(),
        note: r.try_get("note")?,
        created_at: Some(yiwang_kit::to_timestamp(r.try_get("created_at")?)),
    })
}

impl Dictionary {
    pub fn new(pool: PgPool) -> Dictionary {
        Dictionary {
            pool,
            built: RwLock::new(((0, None), Arc::new(Scanner::new(Vec::new())))),
            checked: Mutex::new(None),
        }
    }

    /// The scanner of the dictionary as it is now.
    pub async fn scanner(&self) -> Result<Arc<Scanner>> {
        Ok(self.current().await?.1)
    }

    /// The scanner with the state of the dictionary it was built from (looked up afresh).
    pub async fn current_fresh(&self) -> Result<(Version, Arc<Scanner>)> {
        self.changed();
        self.current().await
    }

    async fn current(&self) -> Result<(Version, Arc<Scanner>)> {
        let fresh = {
            let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = checked.is_some_and(|t| t.elapsed() < Duration::from_secs(1));
            if !fresh {
                *checked = Some(Instant::now());
            }
            fresh
        };
        if !fresh {
            let row = sqlx::query("SELECT count(*) AS n, max(created_at) AS newest FROM words")
                .fetch_one(&self.pool)
                .await?;
            let version: Version = (row.try_get("n")?, row.try_get("newest")?);
            let known = self.built.read().unwrap_or_else(|e| e.into_inner()).0;
            if version != known {
                let rows = sqlx::query(
                    "SELECT word, kind, suggestion, note, changed_on FROM words ORDER BY word",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut entries = Vec::with_capacity(rows.len());
                for r in &rows {
                    let changed_on: Option<NaiveDate> = r.try_get("changed_on")?;
                    let mut note: String = r.try_get("note")?;
                    if let Some(d) = changed_on {
                        note = format!(
                            "{d} 起已不再使用{}{note}",
                            if note.is_empty() { "" } else { "；" }
                        );
                    }
                    entries.push(Entry {
                        word: r.try_get("word")?,
                        kind: r.try_get("kind")?,
                        suggestion: r.try_get("suggestion")?,
                        note,
                    });
                }
                let scanner = Arc::new(Scanner::new(entries));
                *self.built.write().unwrap_or_else(|e| e.into_inner()) = (version, scanner);
            }
        }
        Ok(self.built.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Forgets when it last looked (after a change this replica made).
    pub fn changed(&self) {
        *self.checked.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub async fn add(&self, c: &Caller, r: pb::AddWordRequest) -> Result<pb::Word> {
        let mut v = Violations::new();
        let word = v.text("word", &r.word, true, 50);
        v.one_of("kind", &r.kind, KINDS);
        let suggestion = v.text("suggestion", &r.suggestion, r.kind != "sensitive", 100);
        let note = v.text("note", &r.note, false, 500);
        let changed_on = if r.changed_on.trim().is_empty() {
            if r.kind == "outdated" {
                v.add(
                    "changed_on",
                    "is required for an outdated name (YYYY-MM-DD)",
                );
            }
            None
        } else {
            match NaiveDate::parse_from_str(r.changed_on.trim(), "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    v.add("changed_on", "must be a date, YYYY-MM-DD");
                    None
                }
            }
        };
        if !word.is_empty() && words::fold(&word).trim().is_empty() {
            v.add("word", "must contain something to match");
        }
        v.into_result()?;
        let row = sqlx::query(
            "INSERT INTO words (id, word, kind, suggestion, changed_on, note, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (word) DO NOTHING
             RETURNING id, word, kind, suggestion, changed_on, note, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(&word)
        .bind(&r.kind)
        .bind(&suggestion)
        .bind(changed_on)
        .bind(&note)
        .bind(&c.sub)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            Error::already_exists(
                "WORD_EXISTS",
                format!("{word} is in the dictionary already"),
            )
        })?;
        self.changed();
        word_of(&row)
    }

    /// The words, read from `pool` (the listing may be served by the read replica).
    pub async fn list(&self, pool: &PgPool, kind: &str) -> Result<Vec<pb::Word>> {
        if !kind.is_empty() && !KINDS.contains(&kind) {
            return Err(Error::invalid(
                "kind",
                format!("must be one of: {}", KINDS.join(", ")),
            ));
        }
        let rows = sqlx::query(
            "SELECT id, word, kind, suggestion, changed_on, note, created_at FROM words
              WHERE $1 = '' OR kind = $1 ORDER BY kind, word",
        )
        .bind(kind)
        .fetch_all(pool)
        .await?;
        rows.iter().map(word_of).collect()
    }
}

/// The findings of a title and an HTML body.
pub fn findings(scanner: &Scanner, title: &str, body_html: &str) -> Vec<pb::Finding> {
    let mut out = Vec::new();
    for (field, text) in [
        ("title", title.to_string()),
        ("body", words::html_text(body_html)),
    ] {
        for h in scanner.scan(&text) {
            let e = &scanner.entries[h.entry];
            out.push(pb::Finding {
                field: field.into(),
                start: h.start as u32,
                end: h.end as u32,
                text: h.text,
                word: e.word.clone(),
                kind: e.kind.clone(),
                suggestion: e.suggestion.clone(),
                note: e.note.clone(),
            });
        }
    }
    out
}
