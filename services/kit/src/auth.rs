//! Bearer-JWT authentication shared by the gateway (REST) and every service (gRPC metadata).
//! A verified token becomes a [`Caller`]; a request without a token is the anonymous caller,
//! which may only do what is public (catalogue reads). Services enforce their own rules.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtConfig;
use crate::error::{Error, Result};

/// Roles of API.md.
pub mod roles {
    pub const CITIZEN: &str = "citizen";
    pub const ENTERPRISE: &str = "enterprise";
    pub const CLERK: &str = "clerk";
    /// A clerk of a hall's comprehensive window (综合窗口): `dept` names the hall; receives and
    /// formally accepts cases for the items the hall receives, for any department.
    pub const WINDOW_CLERK: &str = "window_clerk";
    /// A self-service terminal (自助终端): `sub` is its code, `dept` its hall; files cases on the
    /// self_service channel for the items it offers, for a citizen identified at it.
    pub const TERMINAL: &str = "terminal";
    pub const OFFICER: &str = "officer";
    pub const CATALOG_ADMIN: &str = "catalog_admin";
    pub const SUPERVISOR: &str = "supervisor";
    pub const INSPECTOR: &str = "inspector";
    pub const PROJECT_ADMIN: &str = "project_admin";
    pub const EXPERT: &str = "expert";
    pub const SECOPS: &str = "secops";
    pub const ADMIN: &str = "admin";
    /// Website content (政府网站): sites, columns and the 错敏词 dictionary.
    pub const CONTENT_ADMIN: &str = "content_admin";
    /// Writes posts for their department (`dept`).
    pub const CONTENT_AUTHOR: &str = "content_author";
    /// The three reviews (三审): first (初审), second (复审), final (终审).
    pub const CONTENT_FIRST_REVIEWER: &str = "content_first_reviewer";
    pub const CONTENT_SECOND_REVIEWER: &str = "content_second_reviewer";
    pub const CONTENT_FINAL_REVIEWER: &str = "content_final_reviewer";
    /// A department system integrating over gRPC.
    pub const SYSTEM: &str = "system";
}

/// Claims of a Yiwang JWT (DESIGN.md §4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Who is calling. `sub` is empty for the anonymous caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub name: String,
    pub roles: Vec<String>,
    pub dept: Option<String>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn is_authenticated(&self) -> bool {
        !self.sub.is_empty()
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `admin` holds every role.
    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        self.has_role(roles::ADMIN) || roles.iter().any(|r| self.has_role(r))
    }

    /// UNAUTHENTICATED without a token (any role will do; the operation decides what the caller
    /// may see).
    pub fn require_authenticated(&self) -> Result<()> {
        if self.is_authenticated() {
            Ok(())
        } else {
            Err(Error::unauthenticated(
                "this operation needs a bearer token",
            ))
        }
    }

    /// UNAUTHENTICATED without a token, PERMISSION_DENIED without one of `roles`.
    pub fn require_any_role(&self, roles: &[&str]) -> Result<()> {
        self.require_authenticated()?;
        if self.has_any_role(roles) {
            Ok(())
        } else {
            Err(Error::permission_denied(format!(
                "this operation needs one of the roles: {}",
                roles.join(", ")
            )))
        }
    }

    /// The caller of a gRPC request, as put there by the auth middleware of [`crate::grpc`].
    pub fn of<T>(request: &tonic::Request<T>) -> Caller {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_default()
    }
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    /// Tokens already verified, until they expire (at most a minute): a department system sends
    /// the same token with every call, and checking its signature each time is most of the cost
    /// of a cached read.
    verified: Arc<crate::nearcache::NearCache<Verified>>,
}

#[derive(Clone)]
struct Verified {
    caller: Arc<Caller>,
    exp: i64,
}

impl crate::nearcache::Weigh for Verified {
    fn weight(&self) -> u64 {
        256
    }
}

impl JwtVerifier {
    pub fn from_config(cfg: &JwtConfig) -> anyhow::Result<Self> {
        let (key, mut validation) = if let Some(pem) = &cfg.public_key_pem {
            let pem = pem.as_bytes();
            if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
                (k, Validation::new(Algorithm::RS256))
            } else {
                let k = DecodingKey::from_ed_pem(pem).map_err(|e| {
                    anyhow::anyhow!(
                        "YIWANG_JWT_PUBLIC_KEY is neither an RSA nor an Ed25519 PEM key: {e}"
                    )
                })?;
                (k, Validation::new(Algorithm::EdDSA))
            }
        } else {
            let secret = cfg
                .secret
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("set YIWANG_JWT_SECRET or YIWANG_JWT_PUBLIC_KEY"))?;
            (
                DecodingKey::from_secret(secret.as_bytes()),
                Validation::new(Algorithm::HS256),
            )
        };
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = &cfg.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(Self {
            key: Arc::new(key),
            validation: Arc::new(validation),
            verified: Arc::new(crate::nearcache::NearCache::new(
                4 * 1024 * 1024,
                std::time::Duration::from_secs(60),
            )),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Caller> {
        let now = chrono::Utc::now().timestamp();
        if let Some(v) = self.verified.get(token)
            && v.exp > now
        {
            return Ok((*v.caller).clone());
        }
        let epoch = self.verified.epoch();
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    _ => "the token is malformed",
                };
                Error::unauthenticated(why)
            })?;
        let c = data.claims;
        if c.sub.trim().is_empty() {
            return Err(Error::unauthenticated("the token has an empty sub"));
        }
        let caller = Caller {
            sub: c.sub,
            name: c.name,
            roles: c.roles,
            dept: c.dept.filter(|d| !d.is_empty()),
        };
        // Remembered only until its own expiry (without the validation leeway).
        if c.exp > now {
            self.verified.insert_if_unchanged(
                token,
                Verified {
                    caller: Arc::new(caller.clone()),
                    exp: c.exp,
                },
                epoch,
            );
        }
        Ok(caller)
    }

    /// The caller of an `Authorization` header value; `None` header = anonymous.
    pub fn caller_from_header(&self, header: Option<&http::HeaderValue>) -> Result<Caller> {
        let Some(value) = header else {
            return Ok(Caller::anonymous());
        };
        let value = value
            .to_str()
            .map_err(|_| Error::unauthenticated("the Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                Error::unauthenticated("the Authorization header must be `Bearer <token>`")
            })?;
        self.verify(token.trim())
    }
}

/// Mints HS256 tokens (`yiwang token`, tests, benchmarks).
pub fn mint_token(
    secret: &str,
    sub: &str,
    name: &str,
    roles: &[String],
    dept: Option<&str>,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_string(),
        name: name.to_string(),
        roles: roles.to_vec(),
        dept: dept.map(str::to_string),
        exp: now + ttl_secs,
        iat: Some(now),
        iss: None,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> JwtVerifier {
        JwtVerifier::from_config(&JwtConfig {
            secret: Some("s".into()),
            public_key_pem: None,
            issuer: None,
        })
        .unwrap()
    }

    #[test]
    fn verifies_minted_tokens_and_rejects_others() {
        let t = mint_token("s", "u1", "张三", &["catalog_admin".into()], Some("d1"), 60).unwrap();
        let c = verifier().verify(&t).unwrap();
        assert_eq!(c.sub, "u1");
        assert!(c.has_role("catalog_admin"));
        assert_eq!(c.dept.as_deref(), Some("d1"));
        let other = mint_token("other", "u1", "", &[], None, 60).unwrap();
        assert_eq!(
            verifier().verify(&other).unwrap_err().code,
            crate::error::Code::Unauthenticated
        );
        let expired = mint_token("s", "u1", "", &[], None, -120).unwrap();
        assert!(
            verifier()
                .verify(&expired)
                .unwrap_err()
                .message
                .contains("expired")
        );
    }

    /// A production identity provider signs with Ed25519; the platform holds only the public
    /// key (a test key pair, made with `openssl genpkey -algorithm ed25519`).
    #[test]
    fn verifies_tokens_signed_by_an_ed25519_identity_provider() {
        const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIO4YeGTh9W7LedP+xSq69snvUtrtX54nMcH3Nx32DFai
-----END PRIVATE KEY-----
";
        const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAFX+wPEwxnbftQazO+UhPqWeNfmLq5r0irH9XI3u+JbQ=
-----END PUBLIC KEY-----
";
        let verifier = JwtVerifier::from_config(&JwtConfig {
            secret: None,
            public_key_pem: Some(PUBLIC.into()),
            issuer: None,
        })
        .unwrap();
        let claims = Claims {
            sub: "idp-user".into(),
            name: String::new(),
            roles: vec!["officer".into()],
            dept: Some("340522-SCJGJ".into()),
            exp: chrono::Utc::now().timestamp() + 60,
            iat: None,
            iss: None,
        };
        let key = jsonwebtoken::EncodingKey::from_ed_pem(PRIVATE.as_bytes()).unwrap();
        let token =
            jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::EdDSA), &claims, &key)
                .unwrap();
        let c = verifier.verify(&token).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.dept.as_deref()),
            ("idp-user", Some("340522-SCJGJ"))
        );
        // An HS256 token (anyone holding a shared secret) is refused by an Ed25519 verifier.
        let forged = mint_token("guess", "idp-user", "", &["admin".into()], None, 60).unwrap();
        assert!(verifier.verify(&forged).is_err());
    }

    #[test]
    fn roles_are_enforced() {
        let anon = Caller::anonymous();
        assert_eq!(
            anon.require_any_role(&["x"]).unwrap_err().code,
            crate::error::Code::Unauthenticated
        );
        let c = Caller {
            sub: "u".into(),
            roles: vec!["citizen".into()],
            ..Default::default()
        };
        assert_eq!(
            c.require_any_role(&["catalog_admin"]).unwrap_err().code,
            crate::error::Code::PermissionDenied
        );
        let admin = Caller {
            sub: "a".into(),
            roles: vec!["admin".into()],
            ..Default::default()
        };
        assert!(admin.require_any_role(&["catalog_admin"]).is_ok());
    }
}

/// How a service presents itself when it calls another as a department system (role `system`):
/// `YIWANG_SERVICE_TOKEN` (issued by the identity provider), or, in development, a token signed
/// with the HS256 secret every service verifies. None when neither is there.
pub fn service_token(cfg: &crate::Config, sub: &str, name: &str) -> Option<String> {
    std::env::var("YIWANG_SERVICE_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| {
            let secret = cfg.jwt.secret.as_deref()?;
            mint_token(
                secret,
                sub,
                name,
                &[roles::SYSTEM.to_string()],
                None,
                10 * 365 * 24 * 3600,
            )
            .ok()
        })
}
