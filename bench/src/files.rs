//! `--suite files`: material files streamed through the platform. `yiwang serve cases` and
//! `yiwang serve gateway` run as their own processes with the default local file store; 8
//! clients upload a 20 MiB scan each at once (raw body through the gateway into the cases
//! service, sealed into the store), then download them all at once. Both processes' RSS is
//! sampled every 10 ms; the figure is the peak rise over the idle RSS measured just before —
//! bounded by the streaming design, not by the 160 MiB in flight. The baseline of the same run
//! is the plain copy of the same bytes to the same disk by this process (`tokio::fs::write`), to
//! show what sealing and the two hops cost in time.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

const CLIENTS: usize = 8;
const FILE_BYTES: usize = 20 * 1024 * 1024;

/// A JPEG-looking file of `len` bytes (the type is recognised from the first bytes).
fn scan(len: usize, seed: u32) -> Bytes {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed | 1;
    b.resize(len, 0);
    for byte in b.iter_mut().skip(4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    Bytes::from(b)
}

pub async fn run(
    yiwang: &std::path::Path,
    logs: &std::path::Path,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut cfg = yiwang_kit::Config::from_env()?;
    cfg.database_prefix = "yiwang_bench".into();
    cfg.redis_prefix = "yiwang-bench".into();
    yiwang_kit::db::drop_database(&cfg.database_url, &cfg.database_name("cases")).await?;
    let store = std::env::temp_dir().join("yiwang-bench-files");
    let _ = std::fs::remove_dir_all(&store);
    let (cases_addr, gateway_addr) = (crate::free_addr()?, crate::free_addr()?);
    let mut procs = crate::Procs(Vec::new());
    for role in ["cases", "gateway"] {
        let log = std::fs::File::create(logs.join(format!("files-{role}.log")))?;
        let child = Command::new(yiwang)
            .args(["serve", role])
            .env("DATABASE_URL", &cfg.database_url)
            .env("REDIS_URL", &cfg.redis_url)
            .env("YIWANG_DB_PREFIX", &cfg.database_prefix)
            .env("YIWANG_REDIS_PREFIX", &cfg.redis_prefix)
            .env("YIWANG_JWT_SECRET", crate::SECRET)
            .env("YIWANG_CASES_ADDR", cases_addr.to_string())
            .env("YIWANG_CASES_URL", format!("http://{cases_addr}"))
            .env("YIWANG_GATEWAY_ADDR", gateway_addr.to_string())
            .env("YIWANG_OBJECT_STORE", &store)
            .env("YIWANG_RATE_LIMIT", "1000000000")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {role}"))?;
        procs.0.push((role.to_string(), child));
    }
    crate::wait_ready(cases_addr, "/readyz").await?;
    // The gateway is not "ready" without every service; files need only cases.
    crate::wait_ready(gateway_addr, "/healthz").await?;
    let token = yiwang_kit::auth::mint_token(
        crate::SECRET,
        "bench-citizen",
        "bench-citizen",
        &["citizen".to_string()],
        None,
        3600,
    )?;
    let files: Vec<Bytes> = (0..CLIENTS)
        .map(|i| scan(FILE_BYTES, i as u32 + 7))
        .collect();

    // Warm both processes (connections, pools, allocator) with one small round trip.
    let mut conn = crate::http_conn(gateway_addr).await?;
    let (st, _) = crate::http_send(
        &mut conn,
        http::Method::POST,
        "/v1/uploads?file_name=warm.jpg",
        Some(&token),
        Some(scan(100_000, 1)),
    )
    .await?;
    anyhow::ensure!(st == 201, "warm-up upload answered {st}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pids = [
        ("gateway", procs.pid("gateway")),
        ("cases", procs.pid("cases")),
    ];
    let idle: Vec<f64> = pids.iter().map(|(_, p)| crate::rss_mib(*p)).collect();

    // Peak RSS of each process while `work` runs.
    async fn sampled<F: std::future::Future<Output = anyhow::Result<T>>, T>(
        pids: &[(&str, u32)],
        work: F,
    ) -> anyhow::Result<(T, Vec<f64>, f64)> {
        let stop = Arc::new(AtomicBool::new(false));
        let pid_list: Vec<u32> = pids.iter().map(|(_, p)| *p).collect();
        let sampler = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut peak = vec![0f64; pid_list.len()];
                while !stop.load(Ordering::Relaxed) {
                    for (i, p) in pid_list.iter().enumerate() {
                        peak[i] = peak[i].max(crate::rss_mib(*p));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                peak
            })
        };
        let t = Instant::now();
        let out = work.await;
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let peak = sampler.await?;
        Ok((out?, peak, secs))
    }

    let (ids, up_peak, up_secs) = sampled(&pids, async {
        let mut tasks = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let (f, token) = (f.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = crate::http_conn(gateway_addr).await?;
                let (st, body) = crate::http_send(
                    &mut conn,
                    http::Method::POST,
                    &format!("/v1/uploads?file_name=scan-{i}.jpg"),
                    Some(&token),
                    Some(f),
                )
                .await?;
                anyhow::ensure!(
                    st == 201,
                    "upload answered {st}: {}",
                    String::from_utf8_lossy(&body)
                );
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                Ok::<String, anyhow::Error>(v["id"].as_str().unwrap_or_default().to_string())
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await??);
        }
        Ok(ids)
    })
    .await?;

    let (sizes, down_peak, down_secs) = sampled(&pids, async {
        let mut tasks = Vec::new();
        for id in &ids {
            let (id, token) = (id.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = crate::http_conn(gateway_addr).await?;
                let (st, body) = crate::http_send(
                    &mut conn,
                    http::Method::GET,
                    &format!("/v1/uploads/{id}/content"),
                    Some(&token),
                    None,
                )
                .await?;
                anyhow::ensure!(st == 200, "download answered {st}");
                Ok::<usize, anyhow::Error>(body.len())
            }));
        }
        let mut sizes = Vec::new();
        for t in tasks {
            sizes.push(t.await??);
        }
        Ok(sizes)
    })
    .await?;
    anyhow::ensure!(
        sizes.iter().all(|s| *s == FILE_BYTES),
        "downloads came back short: {sizes:?}"
    );

    // Baseline: the same bytes written plainly to the same disk, 8 at once.
    let plain = std::env::temp_dir().join("yiwang-bench-plain");
    let _ = std::fs::remove_dir_all(&plain);
    std::fs::create_dir_all(&plain)?;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (f, path) = (f.clone(), plain.join(format!("{i}")));
        tasks.push(tokio::spawn(async move { tokio::fs::write(path, f).await }));
    }
    for t in tasks {
        t.await??;
    }
    let base_secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&plain);
    drop(procs);
    let _ = std::fs::remove_dir_all(&store);

    let total_mib = (CLIENTS * FILE_BYTES) as f64 / 1048576.0;
    let rise = |peak: &[f64]| -> String {
        pids.iter()
            .enumerate()
            .map(|(i, (n, _))| format!("{n} +{:.1} MiB", peak[i] - idle[i]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let worst = |peak: &[f64]| {
        (0..pids.len())
            .map(|i| peak[i] - idle[i])
            .fold(0f64, f64::max)
    };
    report.push(format!(
        "| 8 concurrent 20 MiB uploads (REST → gateway → cases, sealed to the local store): RSS rise over idle ({}) | {} | {total_mib:.0} MiB in flight | worst {:.1} MiB, {} the 64 MiB budget |",
        idle.iter().zip(pids.iter()).map(|(r, (n, _))| format!("{n} {r:.1} MiB")).collect::<Vec<_>>().join(", "),
        rise(&up_peak),
        worst(&up_peak),
        if worst(&up_peak) <= 64.0 { "within" } else { "over" },
    ));
    report.push(format!(
        "| 8 concurrent 20 MiB downloads (opened and streamed back): RSS rise over idle | {} | {total_mib:.0} MiB in flight | worst {:.1} MiB |",
        rise(&down_peak),
        worst(&down_peak),
    ));
    report.push(format!(
        "| Upload throughput, 8 × 20 MiB | {:.0} MiB/s ({up_secs:.2} s) | plain write of the same bytes: {:.0} MiB/s ({base_secs:.2} s) | {:.2}× the plain write's time |",
        total_mib / up_secs,
        total_mib / base_secs,
        up_secs / base_secs,
    ));
    report.push(format!(
        "| Download throughput, 8 × 20 MiB | {:.0} MiB/s ({down_secs:.2} s) | — | — |",
        total_mib / down_secs,
    ));
    Ok(())
}
