//! E-licences (电子证照): approving a licence item (task type 01) issues one, in the transaction
//! of the decision. The licence is a JSON document — number, item, holder (name and masked
//! USCC/ID), issuing department, validity — signed with the platform's Ed25519 key; the app's QR
//! code carries document and signature, and anyone can check them (valid, revoked, expired or
//! forged). Revoking the case revokes the licence.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Datelike, Months, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::{Error, Result, outbox};
use yiwang_proto::cases::v1 as pb;

use crate::case_store::CaseRow;

pub const LICENCE_ISSUED: &str = "cases.licence.issued";
pub const LICENCE_REVOKED: &str = "cases.licence.revoked";

/// The development seed: signatures made with it prove nothing (warned at start-up).
const DEV_SEED: [u8; 32] = *b"yiwang-development-licence-key!!";

/// The platform's signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
    development: bool,
}

impl Signer {
    /// From `YIWANG_LICENCE_KEY` (base64 of a 32-byte seed), or the development key.
    pub fn from_config(cfg: &yiwang_kit::Config) -> anyhow::Result<Signer> {
        let (seed, development) = match &cfg.licence_key {
            Some(b64) => {
                let seed: [u8; 32] = B64
                    .decode(b64.trim())
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "YIWANG_LICENCE_KEY must be base64 of 32 random bytes (openssl rand -base64 32)"
                        )
                    })?;
                (seed, false)
            }
            None => (DEV_SEED, true),
        };
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| anyhow::anyhow!("YIWANG_LICENCE_KEY is not a usable Ed25519 seed"))?;
        Ok(Signer { pair, development })
    }

    pub fn is_development(&self) -> bool {
        self.development
    }

    /// Base64 of the raw 32-byte public key, for verifiers offline.
    pub fn public_key(&self) -> String {
        B64.encode(self.pair.public_key().as_ref())
    }

    fn sign(&self, document: &str) -> String {
        B64.encode(self.pair.sign(document.as_bytes()).as_ref())
    }

    fn verifies(&self, document: &str, signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, self.pair.public_key().as_ref())
            .verify(document.as_bytes(), &sig)
            .is_ok()
    }
}

/// What is signed, in this field order.
#[derive(Serialize, Deserialize)]
struct Document {
    number: String,
    item_code: String,
    item_name: String,
    holder_name: String,
    holder_id: String,
    department: String,
    issued_at: String,
    valid_until: String,
}

fn mask_holder(c: &CaseRow, id_number: &str) -> String {
    if c.applicant_kind == "legal_person" {
        yiwang_kit::crypto::mask_generic(&c.applicant_uscc)
    } else {
        yiwang_kit::crypto::mask_id_number(id_number)
    }
}

/// Issues the licence of an approved licence case in the decision's transaction.
pub async fn issue(
    tx: &mut Transaction<'_, Postgres>,
    signer: &Signer,
    c: &CaseRow,
    id_number: &str,
    valid_years: u32,
    region: &str,
) -> Result<()> {
    let now = Utc::now();
    let year = now.with_timezone(&crate::calendar::SHANGHAI).year();
    let seq: i32 = sqlx::query_scalar(
        "INSERT INTO licence_numbers (year, last) VALUES ($1, 1)
         ON CONFLICT (year) DO UPDATE SET last = licence_numbers.last + 1 RETURNING last",
    )
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    let number = format!("{region}-{year}-{seq:06}");
    let valid_until = now
        .checked_add_months(Months::new(valid_years * 12))
        .unwrap_or(now);
    let doc = Document {
        number: number.clone(),
        item_code: c.item_code.clone(),
        item_name: c.item_name.clone(),
        holder_name: c.applicant_name.clone(),
        holder_id: mask_holder(c, id_number),
        department: c.department.clone(),
        issued_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        valid_until: valid_until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let document = serde_json::to_string(&doc).map_err(Error::internal)?;
    let signature = signer.sign(&document);
    sqlx::query(
        "INSERT INTO licences (number, case_id, owner_sub, document, signature, valid_until)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&number)
    .bind(c.id)
    .bind(&c.owner_sub)
    .bind(&document)
    .bind(&signature)
    .bind(valid_until)
    .execute(&mut **tx)
    .await?;
    outbox::enqueue(
        tx,
        LICENCE_ISSUED,
        &serde_json::json!({"number": number, "case_id": c.id, "item_code": c.item_code,
            "item_name": c.item_name, "department": c.department, "holder_uscc": c.applicant_uscc,
            "valid_until": valid_until, "owner_sub": c.owner_sub}),
    )
    .await?;
    Ok(())
}

/// Revokes the case's licence, if it has one, in the revocation's transaction.
pub async fn revoke(tx: &mut Transaction<'_, Postgres>, case_id: Uuid, reason: &str) -> Result<()> {
    let revoked: Option<(String, String)> = sqlx::query_as(
        "UPDATE licences SET revoked_at = now(), revoke_reason = $2
          WHERE case_id = $1 AND revoked_at IS NULL RETURNING number, owner_sub",
    )
    .bind(case_id)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((number, owner_sub)) = revoked {
        outbox::enqueue(
            tx,
            LICENCE_REVOKED,
            &serde_json::json!({"number": number, "case_id": case_id, "reason": reason,
                "owner_sub": owner_sub}),
        )
        .await?;
    }
    Ok(())
}

fn status(revoked: Option<DateTime<Utc>>, valid_until: DateTime<Utc>) -> &'static str {
    if revoked.is_some() {
        "revoked"
    } else if valid_until < Utc::now() {
        "expired"
    } else {
        "valid"
    }
}

fn to_pb(r: &sqlx::postgres::PgRow, signer: &Signer) -> Result<pb::Licence> {
    let document: String = r.try_get("document")?;
    let doc: Document = serde_json::from_str(&document).map_err(Error::internal)?;
    let revoked: Option<DateTime<Utc>> = r.try_get("revoked_at")?;
    let valid_until: DateTime<Utc> = r.try_get("valid_until")?;
    Ok(pb::Licence {
        number: doc.number,
        item_code: doc.item_code,
        item_name: doc.item_name,
        holder_name: yiwang_kit::crypto::mask_name(&doc.holder_name),
        holder_id: doc.holder_id,
        department: doc.department,
        issued_at: doc.issued_at,
        valid_until: doc.valid_until,
        status: status(revoked, valid_until).to_string(),
        document,
        signature: r.try_get("signature")?,
        public_key: signer.public_key(),
        case_id: r.try_get::<Uuid, _>("case_id")?.to_string(),
    })
}

const COLUMNS: &str = "number, case_id, document, signature, valid_until, revoked_at";

pub async fn get(pool: &PgPool, signer: &Signer, number: &str) -> Result<pb::Licence> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM licences WHERE number = $1"
    )))
    .bind(number)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::not_found(
            "LICENCE_NOT_FOUND",
            format!("no licence has number {}", yiwang_kit::error::clip(number)),
        )
    })?;
    to_pb(&row, signer)
}

pub async fn of_owner(pool: &PgPool, signer: &Signer, owner: &str) -> Result<Vec<pb::Licence>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM licences WHERE owner_sub = $1 ORDER BY number DESC LIMIT 200"
    )))
    .bind(owner)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| to_pb(r, signer)).collect()
}

/// What a presented document and signature are: valid, revoked, expired, or forged (a bad
/// signature, or a document the platform did not issue).
pub async fn verify(
    pool: &PgPool,
    signer: &Signer,
    document: &str,
    signature: &str,
) -> Result<&'static str> {
    if !signer.verifies(document, signature) {
        return Ok("forged");
    }
    let Ok(doc) = serde_json::from_str::<Document>(document) else {
        return Ok("forged");
    };
    let row =
        sqlx::query("SELECT document, valid_until, revoked_at FROM licences WHERE number = $1")
            .bind(&doc.number)
            .fetch_optional(pool)
            .await?;
    let Some(row) = row else {
        return Ok("forged");
    };
    let stored: String = row.try_get("document")?;
    if stored != document {
        return Ok("forged");
    }
    Ok(status(
        row.try_get("revoked_at")?,
        row.try_get("valid_until")?,
    ))
}
