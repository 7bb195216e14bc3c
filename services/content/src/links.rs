//! 错链/死链: the links of published posts (every `href` and `src` of the body, every
//! attachment), checked in the background and listed per post and column when dead.
//!
//! Politeness and bounds: links are checked in passes of due links grouped by host (scheme,
//! name and port); at most `concurrency` hosts at once, one request at a time per host with
//! `host_interval_ms` between two requests to it; each request bounded by `timeout_secs`;
//! timeouts, refused connections and 5xx retried `retries` times with a doubling pause.
//! Classification: 4xx/5xx by status, `timeout`, `dns` (the name does not resolve), `connect`,
//! `redirects` (more than 10, or a loop), and `soft_404` — a page that answers 200 but is an
//! error page: its title says so, or it lands where a made-up address on the same host lands
//! (a site that redirects every unknown address to its home page).
//! The checker never visits loopback, private, link-local or other non-public addresses unless
//! configured to (`blocked`): a post must not turn it into a probe of the internal network.
//! Links alive are checked again after `recheck_secs`, dead ones after a quarter of it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::Url;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::Result;
use yiwang_kit::config::LinkCheckConfig;
use yiwang_proto::content::v1 as pb;

/// Links claimed by one pass.
const PASS: i64 = 200;
/// Bytes of a page read to tell an error page.
const SNIFF: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 10;

/// A link found in a post: the absolute address, and whether it is on the post's own site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub url: String,
    pub host: String,
    pub internal: bool,
}

/// The host key politeness is kept per: scheme, name and port.
fn host_key(u: &Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port_or_known_default().unwrap_or_default()
    )
}

/// The http(s) links of a body and its attachments, absolute, without fragments, each once.
pub fn extract(body_html: &str, attachments: &[pb::Attachment], base: Option<&Url>) -> Vec<Found> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .attribute_filter(move |element, attribute, value| {
            if matches!(
                (element, attribute),
                ("a", "href") | ("img", "src") | ("area", "href")
            ) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(value.to_string());
            }
            Some(value.into())
        })
        .clean(body_html);
    let mut raw = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    raw.extend(attachments.iter().map(|a| a.url.clone()));
    let mut out: Vec<Found> = Vec::new();
    for r in raw {
        let r = r.trim();
        let parsed = match base {
            Some(b) => b.join(r),
            None => Url::parse(r),
        };
        let Ok(mut u) = parsed else { continue };
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            continue;
        }
        u.set_fragment(None);
        let host = host_key(&u);
        let internal = base.is_some_and(|b| host_key(b) == host);
        let url = u.to_string();
        if url.len() <= 2000 && !out.iter().any(|f| f.url == url) {
            out.push(Found {
                url,
                host,
                internal,
            });
        }
    }
    out
}

/// Records the links a post publishes (replacing those of its earlier publication); new links
/// are due at once.
pub async fn record(tx: &mut Transaction<'_, Postgres>, post: Uuid, found: &[Found]) -> Result<()> {
    sqlx::query("DELETE FROM post_links WHERE post_id = $1")
        .bind(post)
        .execute(&mut **tx)
        .await?;
    let urls: Vec<&str> = found.iter().map(|f| f.url.as_str()).collect();
    let hosts: Vec<&str> = found.iter().map(|f| f.host.as_str()).collect();
    let internal: Vec<bool> = found.iter().map(|f| f.internal).collect();
    sqlx::query(
        "INSERT INTO links (url, host) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (url) DO NOTHING",
    )
    .bind(&urls)
    .bind(&hosts)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO post_links (post_id, url, internal)
         SELECT $1, u, i FROM unnest($2::text[], $3::bool[]) AS t(u, i)",
    )
    .bind(post)
    .bind(&urls)
    .bind(&internal)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What one check of a link found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// ok | dead | blocked
    pub state: &'static str,
    pub failure: &'static str,
    pub http_status: i32,
    pub detail: String,
    pub attempts: i32,
}

impl Outcome {
    fn ok(status: u16, attempts: i32) -> Outcome {
        Outcome {
            state: "ok",
            failure: "",
            http_status: status as i32,
            detail: String::new(),
            attempts,
        }
    }
    /// An address the checker may not visit.
    fn blocked(host: &str) -> Outcome {
        Outcome {
            state: "blocked",
            failure: "blocked",
            http_status: 0,
            detail: Blocked(host.into()).to_string(),
            attempts: 1,
        }
    }
    fn dead(failure: &'static str, status: u16, detail: impl Into<String>) -> Outcome {
        Outcome {
            state: "dead",
            failure,
            http_status: status as i32,
            detail: detail.into(),
            attempts: 1,
        }
    }
    /// Worth another try: the server or the network may recover in a moment.
    fn transient(&self) -> bool {
        matches!(self.failure, "timeout" | "connect" | "http_5xx")
    }
}

/// A name that did not resolve.
#[derive(Debug)]
struct DnsFailure(String);
impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} does not resolve", self.0)
    }
}
impl std::error::Error for DnsFailure {}

/// An address the checker may not visit.
#[derive(Debug)]
struct Blocked(String);
impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is a loopback, private or link-local address; the checker does not visit it",
            self.0
        )
    }
}
impl std::error::Error for Blocked {}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// multicast, unspecified or documentation space).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// Resolves names with the system resolver, refusing non-public addresses unless allowed.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(DnsFailure(format!("{host} ({e})")))
                })?
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(DnsFailure(host)) as _);
            }
            let usable: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| allow || is_public(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(Box::new(Blocked(host)) as _);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a URL names an address literally that the checker may not visit.
fn blocked_literal(u: &Url, allow_private: bool) -> bool {
    if allow_private {
        return false;
    }
    match u.host() {
        Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        _ => false,
    }
}

/// What a made-up address on a host looks like (soft-404 detection).
#[derive(Debug, Clone)]
struct Probe {
    status: u16,
    final_url: String,
    title: String,
    len: usize,
}

/// What came back for one request.
struct Page {
    status: u16,
    final_url: Url,
    redirected: bool,
    title: String,
    len: usize,
}

/// Titles of error pages answered with 200 (Chinese and English forms).
const ERROR_TITLES: &[&str] = &[
    "404",
    "not found",
    "页面不存在",
    "页面未找到",
    "找不到",
    "无法找到",
    "已删除",
    "不存在或已",
    "出错了",
    "错误页",
];

/// The <title> of an HTML page (the start of the page only).
fn title_of(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let Some(open) = lower.find("<title") else {
        return String::new();
    };
    let Some(gt) = lower[open..].find('>') else {
        return String::new();
    };
    let start = open + gt + 1;
    let end = lower[start..]
        .find("</title")
        .map_or(html.len(), |e| start + e);
    html.get(start..end).unwrap_or("").trim().to_string()
}

/// The verdict on a page that answered (after redirects).
fn judge(page: &Page, probe: Option<&Probe>) -> Outcome {
    let s = page.status;
    if (400..500).contains(&s) {
        return Outcome::dead("http_4xx", s, format!("HTTP {s}"));
    }
    if s >= 500 {
        return Outcome::dead("http_5xx", s, format!("HTTP {s}"));
    }
    if !(200..300).contains(&s) {
        return Outcome::dead(
            "redirects",
            s,
            format!("HTTP {s} without a usable Location"),
        );
    }
    let title = page.title.to_lowercase();
    if let Some(m) = ERROR_TITLES.iter().find(|m| title.contains(*m)) {
        return Outcome::dead(
            "soft_404",
            s,
            format!(
                "answers {s} with an error page (title \"{}\", says \"{m}\")",
                page.title
            ),
        );
    }
    let path = page.final_url.path().to_ascii_lowercase();
    if page.redirected
        && (path.contains("404") || path.contains("notfound") || path.contains("error"))
    {
        return Outcome::dead(
            "soft_404",
            s,
            format!("redirected to the error page {}", page.final_url),
        );
    }
    if let Some(p) = probe
        && (200..300).contains(&p.status)
    {
        let same_landing = page.redirected && page.final_url.as_str() == p.final_url;
        let same_page = !p.title.is_empty()
            && p.title == page.title
            && page.len.abs_diff(p.len) * 20 <= p.len.max(1);
        if same_landing || same_page {
            return Outcome::dead(
                "soft_404",
                s,
                format!(
                    "answers {s} with the page an unknown address on the host gets ({})",
                    p.final_url
                ),
            );
        }
    }
    Outcome::ok(s, 1)
}

/// The link checker: one HTTP client, its settings.
#[derive(Clone)]
pub struct Checker {
    client: reqwest::Client,
    cfg: LinkCheckConfig,
}

impl Checker {
    pub fn new(cfg: LinkCheckConfig) -> anyhow::Result<Checker> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "Yiwang-LinkChecker/",
                env!("CARGO_PKG_VERSION"),
                " (website 错链/死链 check)"
            ))
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .connect_timeout(Duration::from_secs(cfg.timeout_secs))
            .no_proxy()
            .dns_resolver(GuardedResolver {
                allow_private: cfg.allow_private,
            })
            // Redirects are followed here, hop by hop, politely spaced and checked like the
            // first address.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Checker { client, cfg })
    }

    fn pause(&self) -> Duration {
        Duration::from_millis(self.cfg.host_interval_ms)
    }

    async fn fetch(&self, url: &Url) -> std::result::Result<Page, Outcome> {
        let mut current = url.clone();
        let mut hops: Vec<Url> = Vec::new();
        let resp = loop {
            if blocked_literal(&current, self.cfg.allow_private) {
                return Err(Outcome::blocked(current.host_str().unwrap_or_default()));
            }
            let resp = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(classify)?;
            let status = resp.status();
            let next = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
                .then(|| resp.headers().get(reqwest::header::LOCATION))
                .flatten()
                .and_then(|l| l.to_str().ok())
                .and_then(|l| current.join(l).ok());
            let Some(mut next) = next else {
                break resp;
            };
            next.set_fragment(None);
            hops.push(current.clone());
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Outcome::dead(
                    "redirects",
                    status.as_u16(),
                    format!("redirects to {}", yiwang_kit::error::clip(next.as_str())),
                ));
            }
            if hops.len() > MAX_REDIRECTS || hops.contains(&next) {
                return Err(Outcome::dead(
                    "redirects",
                    status.as_u16(),
                    format!("more than {MAX_REDIRECTS} redirects, or a loop (at {next})"),
                ));
            }
            drop(resp);
            tokio::time::sleep(self.pause()).await;
            current = next;
        };
        let status = resp.status().as_u16();
        let final_url = current;
        let redirected = !hops.is_empty();
        let html = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("html"));
        let mut body = Vec::new();
        let mut resp = resp;
        let mut len = 0usize;
        // Read the start of an HTML page (its title); count the rest without keeping it.
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    len += c.len();
                    if html && body.len() < SNIFF {
                        body.extend_from_slice(&c[..c.len().min(SNIFF - body.len())]);
                    }
                    if len > 8 * SNIFF {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if (200..300).contains(&status) {
                        return Err(classify(e));
                    }
                    break;
                }
            }
        }
        Ok(Page {
            status,
            final_url,
            redirected,
            title: if html {
                title_of(&String::from_utf8_lossy(&body))
            } else {
                String::new()
            },
            len,
        })
    }

    /// Checks one link with retries; `probe` is the host's made-up address, looked at once.
    async fn check(&self, url: &str, probe: &mut Option<Option<Probe>>) -> Outcome {
        let Ok(u) = Url::parse(url) else {
            return Outcome::dead("connect", 0, "not a valid address");
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut outcome = match self.fetch(&u).await {
                Err(o) => o,
                Ok(page) => {
                    if (200..300).contains(&page.status) && probe.is_none() {
                        tokio::time::sleep(self.pause()).await;
                        *probe = Some(self.probe(&u).await);
                    }
                    judge(&page, probe.as_ref().and_then(|p| p.as_ref()))
                }
            };
            outcome.attempts = attempts;
            if !outcome.transient() || attempts > self.cfg.retries as i32 {
                return outcome;
            }
            let backoff = self.cfg.host_interval_ms.max(100) << (attempts - 1).min(6);
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
    }

    /// Checks one address on its own (no soft-404 probe of its host).
    pub async fn check_url(&self, url: &str) -> Outcome {
        let mut probe = Some(None);
        self.check(url, &mut probe).await
    }

    /// Where a made-up address on the link's host lands.
    async fn probe(&self, u: &Url) -> Option<Probe> {
        let mut p = u.clone();
        p.set_path(&format!(
            "/yiwang-link-check-{}.html",
            Uuid::new_v4().simple()
        ));
        p.set_query(None);
        let page = self.fetch(&p).await.ok()?;
        Some(Probe {
            status: page.status,
            final_url: page.final_url.to_string(),
            title: page.title,
            len: page.len,
        })
    }
}

/// Names the failure of a request that got no answer.
fn classify(e: reqwest::Error) -> Outcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return Outcome::blocked(&b.0);
        }
        if let Some(d) = s.downcast_ref::<DnsFailure>() {
            return Outcome::dead("dns", 0, d.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        Outcome::dead("timeout", 0, "no answer in time")
    } else if e.is_redirect() {
        Outcome::dead("redirects", 0, "too many redirects, or a redirect loop")
    } else if e.is_connect() {
        Outcome::dead("connect", 0, "connection refused or reset")
    } else {
        Outcome::dead("connect", 0, yiwang_kit::error::clip(&e.to_string()))
    }
}

/// One pass: claims the links due (those of published posts), checks them host by host, and
/// records each result as it comes. Returns the links checked.
pub async fn check_due(pool: &PgPool, checker: &Checker) -> Result<usize> {
    let rows = sqlx::query(
        "UPDATE links SET lease_until = now() + interval '10 minutes'
          WHERE url IN (SELECT l.url FROM links l
                         WHERE l.next_check_at <= now() AND (l.lease_until IS NULL OR l.lease_until < now())
                           AND EXISTS (SELECT 1 FROM post_links pl JOIN posts p ON p.id = pl.post_id
                                        WHERE pl.url = l.url AND p.published_at IS NOT NULL
                                          AND p.withdrawn_at IS NULL)
                         ORDER BY l.next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING url, host",
    )
    .bind(PASS)
    .fetch_all(pool)
    .await?;
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        by_host
            .entry(r.try_get("host")?)
            .or_default()
            .push(r.try_get("url")?);
    }
    let recheck = checker.cfg.recheck_secs as f64;
    futures::stream::iter(by_host)
        .for_each_concurrent(checker.cfg.concurrency, |(_, urls)| async move {
            let mut probe = None;
            for (i, url) in urls.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(checker.pause()).await;
                }
                let o = checker.check(url, &mut probe).await;
                metrics::counter!("yiwang_content_links_checked_total", "result" => if o.state == "ok" { "ok" } else { o.failure })
                    .increment(1);
                let next = if o.state == "dead" { recheck / 4.0 } else { recheck };
                let saved = sqlx::query(
                    "UPDATE links SET state = $2, failure = $3, http_status = $4, detail = $5,
                            attempts = $6, checked_at = now(), lease_until = NULL,
                            dead_since = CASE WHEN $2 = 'dead' THEN COALESCE(dead_since, now()) END,
                            next_check_at = now() + make_interval(secs => $7)
                      WHERE url = $1",
                )
                .bind(url)
                .bind(o.state)
                .bind(o.failure)
                .bind((o.http_status != 0).then_some(o.http_status))
                .bind(&o.detail)
                .bind(o.attempts)
                .bind(next)
                .execute(pool)
                .await;
                if let Err(e) = saved {
                    tracing::warn!(error = %e, "a link check could not be recorded");
                }
            }
        })
        .await;
    Ok(rows.len())
}

fn link_of(r: &sqlx::postgres::PgRow) -> Result<pb::Link> {
    Ok(pb::Link {
        url: r.try_get("url")?,
        internal: r.try_get("internal")?,
        state: r.try_get("state")?,
        failure: r.try_get("failure")?,
        http_status: r.try_get::<Option<i32>, _>("http_status")?.unwrap_or(0),
        detail: r.try_get("detail")?,
        attempts: r.try_get("attempts")?,
        checked_at: yiwang_kit::opt_timestamp(r.try_get("checked_at")?),
        dead_since: yiwang_kit::opt_timestamp(r.try_get("dead_since")?),
        next_check_at: yiwang_kit::opt_timestamp(Some(r.try_get("next_check_at")?)),
    })
}

const SCOPE: &str = "p.published_at IS NOT NULL AND p.withdrawn_at IS NULL
    AND ($1 = '' OR p.site_id = $1) AND ($2 = '' OR p.column_id = $2)";

/// The posts of the site or column with dead (or blocked) links, and the counts.
pub async fn broken(
    pool: &PgPool,
    r: &pb::ListBrokenLinksRequest,
) -> Result<pb::ListBrokenLinksResponse> {
    crate::site::ensure_scope(pool, &r.site_id, &r.column_id).await?;
    let totals = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT count(DISTINCT l.url) AS links,
                count(DISTINCT l.url) FILTER (WHERE l.state = 'unchecked') AS unchecked,
                count(DISTINCT l.url) FILTER (WHERE l.state = 'dead') AS dead
           FROM post_links pl JOIN posts p ON p.id = pl.post_id JOIN links l ON l.url = pl.url
          WHERE {SCOPE}"
    )))
    .bind(&r.site_id)
    .bind(&r.column_id)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH hit AS (
             SELECT p.id, p.site_id, p.column_id, p.department, p.title, p.published_at FROM posts p
              WHERE {SCOPE} AND EXISTS (SELECT 1 FROM post_links pl JOIN links l ON l.url = pl.url
                                          WHERE pl.post_id = p.id AND l.state IN ('dead', 'blocked'))
              ORDER BY p.published_at DESC, p.id DESC LIMIT 500)
         SELECT hit.*, pl.internal, l.url, l.state, l.failure, l.http_status, l.detail, l.attempts,
                l.checked_at, l.dead_since, l.next_check_at
           FROM hit JOIN post_links pl ON pl.post_id = hit.id JOIN links l ON l.url = pl.url
          WHERE l.state IN ('dead', 'blocked')
          ORDER BY hit.published_at DESC, hit.id DESC, l.url"
    )))
    .bind(&r.site_id)
    .bind(&r.column_id)
    .fetch_all(pool)
    .await?;
    let mut posts: Vec<pb::PostLinks> = Vec::new();
    for row in &rows {
        let id = row.try_get::<Uuid, _>("id")?.to_string();
        if posts.last().is_none_or(|p| p.post_id != id) {
            posts.push(pb::PostLinks {
                post_id: id,
                site_id: row.try_get("site_id")?,
                column_id: row.try_get("column_id")?,
                department: row.try_get("department")?,
                title: row.try_get("title")?,
                published_at: yiwang_kit::opt_timestamp(row.try_get("published_at")?),
                links: Vec::new(),
            });
        }
        if let Some(p) = posts.last_mut() {
            p.links.push(link_of(row)?);
        }
    }
    let by_column = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT p.site_id, p.column_id, count(*) AS n
           FROM post_links pl JOIN posts p ON p.id = pl.post_id JOIN links l ON l.url = pl.url
          WHERE {SCOPE} AND l.state = 'dead' GROUP BY 1, 2 ORDER BY 1, 2"
    )))
    .bind(&r.site_id)
    .bind(&r.column_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(pb::ColumnCount {
            site_id: r.try_get("site_id")?,
            column_id: r.try_get("column_id")?,
            count: r.try_get("n")?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(pb::ListBrokenLinksResponse {
        links: totals.try_get("links")?,
        unchecked: totals.try_get("unchecked")?,
        dead: totals.try_get("dead")?,
        posts,
        by_column,
    })
}

/// Dead links per site and column in posts published in [from, to).
pub async fn per_column(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<(String, String), i64>> {
    let rows = sqlx::query(
        "SELECT p.site_id, p.column_id, count(*) AS n
           FROM post_links pl JOIN posts p ON p.id = pl.post_id JOIN links l ON l.url = pl.url
          WHERE p.published_at >= $1 AND p.published_at < $2 AND p.withdrawn_at IS NULL
            AND l.state = 'dead'
          GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    crate::site::by_column(&rows)
}

/// Brings links forward: one post's, or every published post's.
pub async fn recheck(
    pool: &PgPool,
    r: &pb::RecheckLinksRequest,
) -> Result<pb::RecheckLinksResponse> {
    let post = if r.post_id.trim().is_empty() {
        None
    } else {
        let id = Uuid::parse_str(r.post_id.trim())
            .map_err(|_| crate::post::not_found(yiwang_kit::error::clip(&r.post_id)))?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM posts WHERE id = $1)")
            .bind(id)
            .fetch_one(pool)
            .await?;
        if !exists {
            return Err(crate::post::not_found(id));
        }
        Some(id)
    };
    let scheduled = sqlx::query(
        "UPDATE links SET next_check_at = now()
          WHERE url IN (SELECT pl.url FROM post_links pl JOIN posts p ON p.id = pl.post_id
                         WHERE p.published_at IS NOT NULL AND p.withdrawn_at IS NULL
                           AND ($1::uuid IS NULL OR p.id = $1))",
    )
    .bind(post)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(pb::RecheckLinksResponse {
        scheduled: scheduled as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_deduplicated_and_http_only() {
        let base = Url::parse("https://www.hanshan.gov.cn/").unwrap();
        let found = extract(
            r#"<p><a href="/zwgk/1.html#top">政策</a> <a href="https://www.hanshan.gov.cn/zwgk/1.html">again</a>
               <a href="mailto:x@y.cn">mail</a> <a href="http://www.ah.gov.cn/a">省</a>
               <img src="img/a.png"><a href="javascript:alert(1)">x</a></p>"#,
            &[pb::Attachment {
                name: "附件".into(),
                url: "/files/a.pdf".into(),
            }],
            Some(&base),
        );
        let got: Vec<(&str, bool)> = found.iter().map(|f| (f.url.as_str(), f.internal)).collect();
        assert_eq!(
            got,
            [
                ("https://www.hanshan.gov.cn/zwgk/1.html", true),
                ("http://www.ah.gov.cn/a", false),
                ("https://www.hanshan.gov.cn/img/a.png", true),
                ("https://www.hanshan.gov.cn/files/a.pdf", true),
            ]
        );
        // Without a site address, relative links cannot be followed.
        assert_eq!(extract(r#"<a href="/x">x</a>"#, &[], None), []);
    }

    #[test]
    fn internal_networks_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["218.22.1.1", "2408:8000::1", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    fn page(status: u16, url: &str, redirected: bool, title: &str, len: usize) -> Page {
        Page {
            status,
            final_url: Url::parse(url).unwrap(),
            redirected,
            title: title.into(),
            len,
        }
    }

    #[test]
    fn error_pages_answered_with_200_are_dead() {
        let ok = page(
            200,
            "https://a.cn/n/1.html",
            false,
            "关于印发通知的通知",
            9000,
        );
        assert_eq!(judge(&ok, None).state, "ok");
        assert_eq!(
            judge(&page(404, "https://a.cn/x", false, "", 10), None).failure,
            "http_4xx"
        );
        assert_eq!(
            judge(&page(502, "https://a.cn/x", false, "", 10), None).failure,
            "http_5xx"
        );
        assert_eq!(
            judge(
                &page(
                    200,
                    "https://a.cn/x",
                    false,
                    "页面不存在 - 寒山县人民政府",
                    900
                ),
                None
            )
            .failure,
            "soft_404"
        );
        assert_eq!(
            judge(
                &page(200, "https://a.cn/error/404.html", true, "寒山县", 900),
                None
            )
            .failure,
            "soft_404"
        );
        let home = Probe {
            status: 200,
            final_url: "https://a.cn/".into(),
            title: "寒山县人民政府".into(),
            len: 20_000,
        };
        // Every unknown address lands on the home page: so does this link.
        assert_eq!(
            judge(
                &page(200, "https://a.cn/", true, "寒山县人民政府", 20_000),
                Some(&home)
            )
            .failure,
            "soft_404"
        );
        // A real page on that host is not.
        assert_eq!(judge(&ok, Some(&home)).state, "ok");
        assert_eq!(title_of("<html><head><TITLE>\n 标题 </TITLE>"), "标题");
    }
}
