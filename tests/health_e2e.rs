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
