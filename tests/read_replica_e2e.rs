//! A read replica for listings and statistics (issue 17): a service's database lives on a
//! private PostgreSQL with a streaming replica (`pg_basebackup -R`) that the test starts. While
//! the replica's replay is paused, someone who changed nothing reads the replica (and so does
//! not yet see a newer case or item), but whoever just changed something reads what they changed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A PostgreSQL server of the test's own, run as the `postgres` user when the test is root
/// (initdb and postgres refuse root), stopped when dropped.
struct PrivatePostgres {
    bindir: PathBuf,
    data: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n");
    if root.unwrap_or(false) {
        let id = |flag: &str| {
            let o = Command::new("id")
                .args([flag, "postgres"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", id("-u")))
            .arg(format!("--regid={}", id("-g")))
            .args(["--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn ok(mut c: Command) {
    let out = c.output().expect("start a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivatePostgres {
    fn bindir() -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        found.sort();
        found.pop().expect("initdb")
    }

    /// A directory the `postgres` user may write.
    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("yt-pg-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        ok({
            let mut c = Command::new("chmod");
            c.arg("0777").arg(&d);
            c
        });
        d
    }

    fn primary() -> PrivatePostgres {
        let bindir = Self::bindir();
        let data = Self::dir("primary").join("data");
        ok({
            let mut c = as_postgres(&bindir.join("initdb"));
            c.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-N",
            ]);
            c
        });
        let pg = PrivatePostgres {
            bindir,
            data,
            port: free_port(),
        };
        pg.start();
        pg
    }

    /// A hot standby streaming from `primary`.
    fn replica_of(primary: &PrivatePostgres) -> PrivatePostgres {
        let data = Self::dir("replica").join("data");
        ok({
            let mut c = as_postgres(&primary.bindir.join("pg_basebackup"));
            c.args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast"]);
            c
        });
        let pg = PrivatePostgres {
            bindir: primary.bindir.clone(),
            data,
            port: free_port(),
        };
        pg.start();
        pg
    }

    fn start(&self) {
        let sock = self.data.parent().unwrap();
        ok({
            let mut c = as_postgres(&self.bindir.join("pg_ctl"));
            c.arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(sock.join("log"))
                .args(["-w", "start", "-o"])
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
                    self.port,
                    sock.display()
                ));
            c
        });
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(self.data.parent().unwrap());
    }
}

/// The whole stack, with `service`'s database on a private primary and a streaming replica of
/// it for its reads; (primary, replica, the database's name, the stack).
async fn stack_with_replica(service: &str) -> (PrivatePostgres, PrivatePostgres, String, Stack) {
    let primary = PrivatePostgres::primary();
    let replica = PrivatePostgres::replica_of(&primary);
    let mut cfg = test_config(10_000).await;
    let db = cfg.database_name(service);
    cfg.service_database_urls
        .insert(service.into(), primary.url(&db));
    cfg.read_database_urls
        .insert(service.into(), replica.url(&db));
    (primary, replica, db, Stack::start_with(cfg).await)
}

async fn case_numbers(s: &Stack, path: &str, token: &str) -> Vec<String> {
    let (st, v) = send(s, "GET", path, Some(token), None).await;
    assert_eq!(st, 200, "{v}");
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn listings_and_statistics_read_the_replica_but_callers_see_their_own_changes() {
    let (primary, replica, db, s) = stack_with_replica("cases").await;

    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let citizen = s.token("citizen-rr", &["citizen"], None);
    let officer = s.token("officer-rr", &["officer"], Some("340522-SCJGJ"));
    let supervisor = s.token("supervisor-rr", &["supervisor"], None);
    let file = || async {
        let (st, c) = send(&s, "POST", "/v1/cases", Some(&citizen),
            Some(json!({"item_code": item, "channel": "online",
                "applicant": {"kind": "person", "name": "张三丰", "id_number": "11010519491231002X", "phone": "13812345678"}}))).await;
        assert_eq!(st, 201, "{c}");
        c["id"].as_str().unwrap().to_string()
    };

    // The first case reaches the replica; then its replay stops.
    let first = file().await;
    let standby = sqlx::PgPool::connect(&replica.url(&db)).await.unwrap();
    let started = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
            .fetch_one(&standby)
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never replicated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&standby)
        .await
        .unwrap();

    // The citizen files again and at once sees both cases (from the primary) ...
    let second = file().await;
    let mine = case_numbers(&s, "/v1/me/cases", &citizen).await;
    assert!(
        mine.contains(&first) && mine.contains(&second),
        "the citizen does not see their own new case: {mine:?}"
    );
    // ... while the department, which changed nothing, reads the paused replica: one case.
    assert_eq!(
        case_numbers(&s, "/v1/cases", &officer).await,
        vec![first.clone()]
    );
    let stats = "/v1/cases/stats?from=2025-01-01T00:00:00Z&to=2030-01-01T00:00:00Z";
    let (st, v) = send(&s, "GET", stats, Some(&supervisor), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["filed"], 1, "statistics not from the replica: {v}");

    // The officer accepts the first case: their next listing shows it accepted, and the second.
    post_ok(
        &s,
        &format!("/v1/cases/{first}/accept"),
        &officer,
        json!({}),
    )
    .await;
    let (st, v) = send(&s, "GET", "/v1/cases", Some(&officer), None).await;
    assert_eq!(st, 200, "{v}");
    let listed = v["cases"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{v}");
    let accepted = listed.iter().find(|c| c["id"] == first.as_str()).unwrap();
    assert_eq!(accepted["state"], "accepted", "{accepted}");

    // Replay resumes: everyone catches up.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&standby)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let (_, v) = send(&s, "GET", stats, Some(&supervisor), None).await;
        if v["filed"] == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    standby.close().await;
    s.stop().await;
    drop(replica);
    drop(primary);
}

async fn item_codes(s: &Stack, query: &str, token: Option<&str>) -> Vec<String> {
    let path = format!("/v1/items?q={query}");
    let (st, v) = send(s, "GET", &path, token, None).await;
    assert_eq!(st, 200, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

/// Every service takes a replica: the catalogue's public search reads it (anonymous callers have
/// nothing of their own to see), while the administrator who just published finds the new item.
#[tokio::test]
async fn the_catalogue_searches_the_replica_and_its_administrator_sees_what_they_published() {
    let (primary, replica, db, s) = stack_with_replica("catalog").await;

    let first = create_published(&s, 1, "食品经营许可证核发").await;
    let standby = sqlx::PgPool::connect(&replica.url(&db)).await.unwrap();
    let started = Instant::now();
    while !item_codes(&s, "食品经营", None).await.contains(&first) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never replicated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&standby)
        .await
        .unwrap();

    let second = create_published(&s, 2, "建筑工程施工许可证核发").await;
    // Anonymous search reads the paused replica: the new item is not there yet ...
    assert!(item_codes(&s, "施工许可", None).await.is_empty());
    // ... but the administrator who published it reads the primary.
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    assert_eq!(
        item_codes(&s, "施工许可", Some(&admin)).await,
        vec![second.clone()]
    );

    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&standby)
        .await
        .unwrap();
    let started = Instant::now();
    while item_codes(&s, "施工许可", None).await != vec![second.clone()] {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    standby.close().await;
    s.stop().await;
    drop(replica);
    drop(primary);
}
