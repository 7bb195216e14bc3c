//! The test harness itself: a test that fails before `Stack::stop` leaves no databases behind.

mod common;

use common::Stack;

async fn existing(url: &str, names: &[String]) -> i64 {
    let opts: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::PgPool::connect_with(opts.database("postgres"))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = ANY($1)")
        .bind(names)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_dropped_without_stop_removes_its_databases() {
    let s = Stack::start().await;
    let url = s.cfg.database_url.clone();
    let names: Vec<String> = ["catalog", "cases", "supervision", "projects", "alerts"]
        .iter()
        .map(|n| s.cfg.database_name(n))
        .collect();
    assert_eq!(
        existing(&url, &names).await,
        5,
        "{names:?} exist while the stack runs"
    );
    // As when an assertion fails mid-test: the stack is dropped, never stopped.
    drop(s);
    assert_eq!(existing(&url, &names).await, 0, "{names:?} are gone");
}
