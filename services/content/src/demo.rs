//! The demo county's website and new media (`yiwang up --demo`), at the scale of its half-year
//! report: the portal and the disclosure site with their columns and 6 special topics; 2,351
//! posts published in the report's half-year (700+ of them in the special topics), each with its
//! three reviews by three different people in its history; 14 new-media accounts (6 WeChat, 5
//! Weibo, 2 Douyin, 1 WeChat Channels) posting from then to today, one of them silent for over a
//! week; a small 错敏词 dictionary (one post in fifty has a slip it finds); and 276 citizen
//! messages (领导信箱 and 市民心声论坛) in the half-year ([`messages`]). A message either waits
//! as submitted, so that the forwarding sweep hands it to the cases service as a ticket through
//! the API, or comes with the ticket the launcher loaded for it into the cases service and the
//! answer published from that ticket's reply.
//! Deterministic; loaded once.

use std::ops::Range;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use yiwang_kit::crypto::DataKey;
use yiwang_kit::demo_rng::SplitMix64;

pub struct Loaded {
    pub posts: usize,
    pub special_topic_posts: usize,
    pub accounts: usize,
    pub media_posts: usize,
    pub messages: usize,
}

pub const POSTS: usize = 2_351;
pub const SPECIAL_TOPIC_POSTS: usize = 712;
pub const MESSAGES: usize = 276;

/// (site, column, name, kind, share of the ordinary posts in ‰)
const COLUMNS: &[(&str, &str, &str, &str, u32)] = &[
    ("hanshan-portal", "news", "要闻动态", "column", 300),
    ("hanshan-portal", "towns", "乡镇动态", "column", 200),
    ("hanshan-portal", "notices", "公告公示", "column", 150),
    ("hanshan-portal", "procurement", "招标采购", "column", 120),
    ("hanshan-portal", "personnel", "人事信息", "column", 80),
    ("hanshan-disclosure", "policies", "政策文件", "column", 100),
    (
        "hanshan-disclosure",
        "interpretation",
        "政策解读",
        "column",
        50,
    ),
    (
        "hanshan-portal",
        "topic-business",
        "优化营商环境",
        "special_topic",
        0,
    ),
    (
        "hanshan-portal",
        "topic-onestop",
        "一网通办",
        "special_topic",
        0,
    ),
    (
        "hanshan-portal",
        "topic-rural",
        "乡村振兴",
        "special_topic",
        0,
    ),
    (
        "hanshan-portal",
        "topic-civility",
        "文明创建",
        "special_topic",
        0,
    ),
    (
        "hanshan-portal",
        "topic-safety",
        "安全生产",
        "special_topic",
        0,
    ),
    (
        "hanshan-portal",
        "topic-discipline",
        "党风廉政建设",
        "special_topic",
        0,
    ),
];

/// (id, platform, name)
const ACCOUNTS: &[(&str, &str, &str)] = &[
    ("wechat-hanshan-fabu", "wechat", "含山发布"),
    ("wechat-hanshan-zwfw", "wechat", "含山政务服务"),
    ("wechat-hanshan-rsj", "wechat", "含山人社"),
    ("wechat-hanshan-scjg", "wechat", "含山市场监管"),
    ("wechat-hanshan-jy", "wechat", "含山教育"),
    ("wechat-hanshan-wj", "wechat", "含山卫健"),
    ("weibo-hanshan-fabu", "weibo", "含山发布"),
    ("weibo-hanshan-ga", "weibo", "含山公安"),
    ("weibo-hanshan-jt", "weibo", "含山交通"),
    ("weibo-hanshan-hb", "weibo", "含山生态环境"),
    ("weibo-hanshan-yj", "weibo", "含山应急管理"),
    ("douyin-hanshan-fabu", "douyin", "含山发布"),
    ("douyin-hanshan-wl", "douyin", "含山文旅"),
    ("channels-hanshan-fabu", "wechat_channels", "含山发布"),
];

const WORDS: &[(&str, &str, &str, Option<&str>)] = &[
    ("截止", "wrong", "截至", None),
    ("布署", "wrong", "部署", None),
    (
        "含山县政务服务管理局",
        "outdated",
        "含山县数据资源管理局",
        Some("2024-03-01"),
    ),
    ("法人代表", "wrong", "法定代表人", None),
    ("申请人必需", "wrong", "申请人必须", None),
];

const SUBJECTS: &[&str] = &[
    "召开政务服务工作推进会",
    "开展“一网通办”宣传活动",
    "发布优化营商环境十条措施",
    "推进“一件事一次办”改革",
    "组织开展安全生产大检查",
    "举办乡村振兴培训班",
    "公开招聘事业单位工作人员",
    "政府采购项目中标公告",
    "政策解读：企业开办全程网办",
    "开展文明城市创建志愿服务",
];

const MESSAGE_SUBJECTS: &[&str] = &[
    "咨询个体户营业执照网上办理",
    "小区路灯损坏无人维修",
    "反映公交线路调整建议",
    "咨询医保异地备案流程",
    "建议增加政务服务中心周末窗口",
    "反映农贸市场占道经营",
];

/// A citizen message of the demo.
pub struct DemoMessage {
    pub id: Uuid,
    pub source: &'static str,
    pub subject: &'static str,
    pub body: String,
    pub submitted_by: String,
    pub created_at: DateTime<Utc>,
    /// The ticket it already became, and the answer published from the ticket's reply.
    pub answered: Option<DemoAnswer>,
}

pub struct DemoAnswer {
    pub ticket_id: Uuid,
    pub answer: String,
    pub answered_at: DateTime<Utc>,
}

/// A deterministic id (the same on every run, so a second load finds the first's rows).
fn demo_id(rng: &mut SplitMix64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.below(u64::MAX).to_le_bytes());
    bytes[8..].copy_from_slice(&rng.below(u64::MAX).to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The half-year's 276 messages (a third to the 市民心声论坛), unanswered; deterministic.
pub fn messages(half: &Range<DateTime<Utc>>) -> Vec<DemoMessage> {
    let mut rng = SplitMix64::new(276);
    let span = (half.end - half.start).num_seconds().max(1) as u64;
    let mut list: Vec<DemoMessage> = (0..MESSAGES)
        .map(|n| {
            let subject = MESSAGE_SUBJECTS[rng.below(MESSAGE_SUBJECTS.len() as u64) as usize];
            DemoMessage {
                id: demo_id(&mut rng),
                source: if n % 3 == 0 {
                    "citizen_forum"
                } else {
                    "leader_mailbox"
                },
                subject,
                body: format!("{subject}，请相关部门予以答复。"),
                submitted_by: format!("demo-citizen-{}", n % 97),
                created_at: half.start + Duration::seconds(rng.below(span) as i64),
                answered: None,
            }
        })
        .collect();
    list.sort_by_key(|m| m.created_at);
    list
}

/// Loads the demo unless the service has sites already. `departments` are the county's
/// department codes (authors' and accounts' departments); posts and `messages` fall in `half`
/// (the report's half-year); the new-media accounts post from its start to `now`.
pub async fn load_demo(
    pool: &PgPool,
    key: &DataKey,
    departments: &[String],
    half: Range<DateTime<Utc>>,
    now: DateTime<Utc>,
    messages: &[DemoMessage],
) -> anyhow::Result<Option<Loaded>> {
    let mut tx = pool.begin().await?;
    // One loader at a time; a second start finds the sites and leaves.
    sqlx::query("SELECT pg_advisory_xact_lock(1610)")
        .execute(&mut *tx)
        .await?;
    let has: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(&mut *tx)
        .await?;
    if has > 0 || departments.is_empty() {
        return Ok(None);
    }
    for (id, name, kind, domain) in [
        (
            "hanshan-portal",
            "含山县人民政府",
            "portal",
            "www.hanshan.gov.cn",
        ),
        (
            "hanshan-disclosure",
            "含山县政府信息公开",
            "disclosure",
            "xxgk.hanshan.gov.cn",
        ),
    ] {
        sqlx::query("INSERT INTO sites (id, name, kind, domain, created_by) VALUES ($1, $2, $3, $4, 'demo')")
            .bind(id)
            .bind(name)
            .bind(kind)
            .bind(domain)
            .execute(&mut *tx)
            .await?;
    }
    for (site, id, name, kind, _) in COLUMNS {
        sqlx::query("INSERT INTO site_columns (site_id, id, name, kind, created_by) VALUES ($1, $2, $3, $4, 'demo')")
            .bind(site)
            .bind(id)
            .bind(name)
            .bind(kind)
            .execute(&mut *tx)
            .await?;
    }
    for (word, kind, suggestion, changed_on) in WORDS {
        sqlx::query(
            "INSERT INTO words (id, word, kind, suggestion, changed_on, note, created_by)
             VALUES ($1, $2, $3, $4, $5::date, '', 'demo')",
        )
        .bind(Uuid::now_v7())
        .bind(word)
        .bind(kind)
        .bind(suggestion)
        .bind(changed_on)
        .execute(&mut *tx)
        .await?;
    }

    let mut rng = SplitMix64::new(16);
    let span = (half.end - half.start).num_seconds().max(1) as u64;
    let ordinary: Vec<&(&str, &str, &str, &str, u32)> =
        COLUMNS.iter().filter(|c| c.3 == "column").collect();
    let topics: Vec<&(&str, &str, &str, &str, u32)> =
        COLUMNS.iter().filter(|c| c.3 == "special_topic").collect();
    let mut special = 0;
    for n in 0..POSTS {
        let column = if n < SPECIAL_TOPIC_POSTS {
            special += 1;
            topics[n % topics.len()]
        } else {
            // Ordinary columns by their shares.
            let mut pick = rng.below(1000) as u32;
            let mut chosen = ordinary[0];
            for c in &ordinary {
                if pick < c.4 {
                    chosen = c;
                    break;
                }
                pick -= c.4;
            }
            chosen
        };
        let department = &departments[rng.below(departments.len() as u64) as usize];
        let published = half.start + Duration::seconds(rng.below(span) as i64);
        let subject = SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize];
        let title = format!(
            "{}{subject}",
            if column.3 == "special_topic" {
                format!("【{}】", column.2)
            } else {
                String::new()
            }
        );
        // One post in fifty carries a slip the dictionary knows (错敏词 rounds find them).
        let slip = if n % 50 == 7 { "截止目前，" } else { "" };
        let body = format!(
            "<p>{}，{subject}。{slip}会议强调，要坚持以人民为中心，持续提升政务服务水平。</p>",
            published.format("%-m月%-d日")
        );
        let id = Uuid::now_v7();
        let created = published - Duration::hours(2 + rng.below(48) as i64);
        sqlx::query(
            "INSERT INTO posts (id, site_id, column_id, department, author, draft_title, draft_body,
                 review_state, title, body, published_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'done', $6, $7, $8, $9, $8)",
        )
        .bind(id)
        .bind(column.0)
        .bind(column.1)
        .bind(department)
        .bind(format!("demo-author-{department}"))
        .bind(&title)
        .bind(&body)
        .bind(published)
        .bind(created)
        .execute(&mut *tx)
        .await?;
        let steps = [
            ("create", format!("demo-author-{department}"), "", "draft"),
            (
                "submit",
                format!("demo-author-{department}"),
                "draft",
                "first_review",
            ),
            (
                "approve",
                format!("demo-reviewer-1-{department}"),
                "first_review",
                "second_review",
            ),
            (
                "approve",
                "demo-reviewer-2".to_string(),
                "second_review",
                "final_review",
            ),
            (
                "publish",
                "demo-reviewer-3".to_string(),
                "final_review",
                "published",
            ),
        ];
        for (i, (action, actor, from, to)) in steps.iter().enumerate() {
            sqlx::query(
                "INSERT INTO post_history (post_id, at, actor, action, from_state, to_state)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(created + (published - created) * i as i32 / 4)
            .bind(actor)
            .bind(action)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        }
    }

    let mut media_posts = 0;
    for (i, (id, platform, name)) in ACCOUNTS.iter().enumerate() {
        let department = &departments[i % departments.len()];
        sqlx::query(
            "INSERT INTO media_accounts (id, platform, name, department, created_by, created_at)
             VALUES ($1, $2, $3, $4, 'demo', $5)",
        )
        .bind(id)
        .bind(platform)
        .bind(name)
        .bind(department)
        .bind(half.start)
        .execute(&mut *tx)
        .await?;
        // Every account posts every few days; the last one has been silent for 10 days (the
        // weekly check flags it to its department when the service starts).
        let silent_since = if i + 1 == ACCOUNTS.len() {
            Duration::days(10)
        } else {
            Duration::zero()
        };
        let mut at = half.start;
        let mut n = 0;
        let mut last = None;
        while at < now - silent_since {
            n += 1;
            sqlx::query(
                "INSERT INTO media_posts (id, account_id, external_id, title, body, published_at, recorded_by)
                 VALUES ($1, $2, $3, $4, $5, $6, 'demo')",
            )
            .bind(Uuid::now_v7())
            .bind(id)
            .bind(format!("{id}-{n}"))
            .bind(SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize])
            .bind("今日政务信息发布。")
            .bind(at)
            .execute(&mut *tx)
            .await?;
            last = Some(at);
            media_posts += 1;
            at += Duration::hours(24 + rng.below(72) as i64);
        }
        sqlx::query("UPDATE media_accounts SET last_post_at = $2 WHERE id = $1")
            .bind(id)
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }

    for (n, m) in messages.iter().enumerate() {
        // A message waiting to be forwarded keeps its contact sealed; a forwarded one has none.
        let (name, phone) = match m.answered {
            None => (
                Some(key.seal("张女士", b"content.contact_name")),
                Some(key.seal(&format!("1390000{:04}", n), b"content.contact_phone")),
            ),
            Some(_) => (None, None),
        };
        sqlx::query(
            "INSERT INTO messages (id, site_id, source, subject, body, submitted_by, contact_name_sealed,
                 contact_phone_sealed, ticket_id, answer, answered_by, answered_at, created_at)
             VALUES ($1, 'hanshan-portal', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(m.id)
        .bind(m.source)
        .bind(m.subject)
        .bind(&m.body)
        .bind(&m.submitted_by)
        .bind(name)
        .bind(phone)
        .bind(m.answered.as_ref().map(|a| a.ticket_id))
        .bind(m.answered.as_ref().map(|a| a.answer.as_str()).unwrap_or(""))
        .bind(if m.answered.is_some() { "demo-reviewer-3" } else { "" })
        .bind(m.answered.as_ref().map(|a| a.answered_at))
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // The first 错敏词 round, so the findings stand as soon as the demo is there.
    crate::dictionary_scan::run(pool, &crate::dictionary::Dictionary::new(pool.clone())).await?;
    Ok(Some(Loaded {
        posts: POSTS,
        special_topic_posts: special,
        accounts: ACCOUNTS.len(),
        media_posts,
        messages: messages.len(),
    }))
}
