//! Health: the catalogue answers NOT_SERVING until its database is reachable and migrated, then
//! SERVING; and NOT_SERVING again once shutdown begins.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use yiwang_kit::CancellationToken;

/// A TCP gate in front of PostgreSQL: connections wait until the gate opens.
async fn gated_postgres() -> (u16, Arc<tokio::sync::Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let open = Arc::new(tokio::sync::Notify::new());
    let gate = open.clone();
    tokio::spawn(async move {
        gate.notified().await;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut pg) = TcpStream::connect("127.0.0.1:5432").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut pg).await;
                }
            });
        }
    });
    (port, open)
}

async fn status(client: &mut HealthClient<tonic::transport::Channel>) -> i32 {
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

#[tokio::test]
async fn not_serving_until_ready_then_serving_then_not_serving_on_shutdown() {
    let mut cfg = common::test_config(0).await;
    let (port, open) = gated_postgres().await;
    cfg.database_url = format!("postgres://postgres@127.0.0.1:{port}");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(yiwang_catalog::serve(
        cfg.clone(),
        listener,
        shutdown.clone(),
    ));

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut health = HealthClient::new(channel);
    let start = Instant::now();
    while status(&mut health).await == -1 {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status(&mut health).await,
        ServingStatus::NotServing as i32,
        "database unreachable: not serving"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&mut health).await, ServingStatus::NotServing as i32);

    open.notify_one();
    let start = Instant::now();
    while status(&mut health).await != ServingStatus::Serving as i32 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never became SERVING"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        status(&mut health).await,
        ServingStatus::NotServing as i32,
        "draining: not serving"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = yiwang_kit::db::drop_database(
        "postgres://postgres@127.0.0.1:5432",
        &cfg.database_name("catalog"),
    )
    .await;
}

/// A second "server": a counting TCP proxy to the same PostgreSQL on a port of its own.
async fn postgres_proxy() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut pg) = TcpStream::connect("127.0.0.1:5432").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut pg).await;
                }
            });
        }
    });
    (port, connections)
}

#[tokio::test]
async fn a_service_lives_in_a_database_of_its_own_where_its_url_says() {
    let mut cfg = common::test_config(10_000).await;
    let (port, connections) = postgres_proxy().await;
    let own = format!("{}_own_cases", cfg.database_prefix);
    cfg.service_database_urls.insert(
        "cases".into(),
        format!("postgres://postgres@127.0.0.1:{port}/{own}"),
    );
    let s = common::Stack::start_with(cfg).await;
    let item = common::create_published(&s, 1, "食品经营许可证核发").await;
    let citizen = s.token("citizen-a", &["citizen"], None);
    let (st, c) = common::send(&s, "POST", "/v1/cases", Some(&citizen),
        Some(serde_json::json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "person", "name": "张三丰", "id_number": "11010519491231002X", "phone": "13812345678"}}))).await;
    assert_eq!(st, 201, "{c}");
    // The case is in the database the cases URL names, reached through its server.
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let pool = sqlx::PgPool::connect(&format!("postgres://postgres@127.0.0.1:5432/{own}"))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE id = $1::uuid")
        .bind(c["id"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    pool.close().await;
    // Nothing was made under the derived name.
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let derived: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(format!("{}_cases", s.cfg.database_prefix))
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(!derived);
    admin.close().await;
    s.stop().await;
}
