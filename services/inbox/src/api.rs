//! The gRPC API (yiwang.inbox.v1.InboxService): the caller's inbox, read marks, and the live
//! stream the gateway serves as Server-Sent Events.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, CancellationToken, Error, Result, page};
use yiwang_proto::inbox::v1 as pb;
use yiwang_proto::inbox::v1::inbox_service_server::InboxService;

use crate::cursor::Cursor;
use crate::notify;
use crate::store::{self, Inbox, NotificationRow};

/// Roles whose `dept` makes them staff of a unit, who hear what is addressed to it.
const STAFF: &[&str] = &[
    roles::CLERK,
    roles::OFFICER,
    roles::WINDOW_CLERK,
    roles::SUPERVISOR,
    roles::INSPECTOR,
    roles::SECOPS,
    roles::PROJECT_ADMIN,
    roles::CATALOG_ADMIN,
];

/// Notifications read per query while a stream catches up.
const CATCH_UP_BATCH: i64 = 100;

pub struct InboxApi {
    pub pool: PgPool,
    /// Listings: a read replica when one is configured (read-your-writes kept, so a caller's
    /// own read marks show at once).
    pub reads: yiwang_kit::db::Reads,
    /// Recipient keys with new notifications (`*`: anyone; after a gap in hearing of them).
    pub wakeups: broadcast::Sender<Arc<str>>,
    pub heartbeat: Duration,
    /// Open streams end with the service, so that a shutdown does not wait on them (the app
    /// reconnects to another replica with `Last-Event-ID`).
    pub shutdown: CancellationToken,
}

type Reply<T> = std::result::Result<Response<T>, Status>;
type Events = Pin<
    Box<dyn Stream<Item = std::result::Result<pb::StreamNotificationsResponse, Status>> + Send>,
>;

/// The inbox a caller reads: their own, and their unit's if they are its staff.
pub fn inbox_of(c: &Caller) -> Result<Inbox> {
    c.require_authenticated()?;
    let unit = c
        .dept
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty() && c.has_any_role(STAFF))
        .map(|d| notify::Recipient::Unit(d.to_string()).key());
    Ok(Inbox {
        reader: c.sub.clone(),
        personal: notify::Recipient::User(c.sub.clone()).key(),
        unit,
    })
}

fn to_pb(r: NotificationRow) -> pb::Notification {
    pb::Notification {
        id: r.id.to_string(),
        kind: r.kind,
        audience: if r.recipient.starts_with("unit:") {
            "unit"
        } else {
            "personal"
        }
        .to_string(),
        title: r.title,
        body: r.body,
        subject_type: r.subject_type,
        subject_id: r.subject_id,
        subject_number: r.subject_number,
        details: Some(yiwang_kit::to_proto_value(&r.details)),
        read: r.read_at.is_some(),
        created_at: Some(yiwang_kit::to_timestamp(r.created_at)),
        read_at: r.read_at.map(yiwang_kit::to_timestamp),
    }
}

fn notification_id(id: &str) -> Result<Uuid> {
    if id.trim().is_empty() {
        return Err(Error::invalid("id", "is required"));
    }
    // Not a notification id: nobody's notification, the same answer as someone else's.
    Uuid::parse_str(id.trim()).map_err(|_| store::not_found(yiwang_kit::error::clip(id)))
}

#[tonic::async_trait]
impl InboxService for InboxApi {
    async fn list_notifications(
        &self,
        req: Request<pb::ListNotificationsRequest>,
    ) -> Reply<pb::ListNotificationsResponse> {
        let caller = Caller::of(&req);
        let inbox = inbox_of(&caller)?;
        let r = req.into_inner();
        for (i, k) in r.kinds.iter().enumerate() {
            if !notify::KINDS.contains(&k.as_str()) {
                return Err(Error::invalid(
                    format!("kinds[{i}]"),
                    format!("must be one of: {}", notify::KINDS.join(", ")),
                )
                .into());
            }
        }
        let limit = page::page_size(r.page_size)?;
        let filters = page::fingerprint(&[
            &inbox.reader,
            if r.unread_only { "unread" } else { "all" },
            &r.kinds.join(","),
        ]);
        let (at, id) = page::decode_newest_first(&r.page_token, filters)?;
        // One pool for the head and the list: a head from a newer database than the list would
        // leave a gap between what the list shows and what the stream sends after the head.
        let pool = self.reads.for_caller(&caller.sub).await;
        // The head first: what the list shows is at or before it, what comes later streams.
        let cursor = store::head(pool, &inbox).await?;
        let filter = store::Filter {
            unread_only: r.unread_only,
            kinds: &r.kinds,
        };
        let mut rows = store::list(pool, &inbox, &filter, at.zip(id), limit + 1).await?;
        let next_page_token = page::next_token(&mut rows, limit, filters, |n| {
            page::newest_first_key(n.created_at, n.id)
        });
        let unread_count = store::unread_count(pool, &inbox).await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: rows.into_iter().map(to_pb).collect(),
            next_page_token,
            unread_count,
            cursor: cursor.to_string(),
        }))
    }

    async fn mark_read(&self, req: Request<pb::MarkRequest>) -> Reply<pb::Notification> {
        let inbox = inbox_of(&Caller::of(&req))?;
        let id = notification_id(&req.get_ref().id)?;
        Ok(Response::new(to_pb(
            store::mark(&self.pool, &inbox, id, true).await?,
        )))
    }

    async fn mark_unread(&self, req: Request<pb::MarkRequest>) -> Reply<pb::Notification> {
        let inbox = inbox_of(&Caller::of(&req))?;
        let id = notification_id(&req.get_ref().id)?;
        Ok(Response::new(to_pb(
            store::mark(&self.pool, &inbox, id, false).await?,
        )))
    }

    async fn mark_all_read(
        &self,
        req: Request<pb::MarkAllReadRequest>,
    ) -> Reply<pb::MarkAllReadResponse> {
        let inbox = inbox_of(&Caller::of(&req))?;
        let up_to = Cursor::parse("up_to", &req.get_ref().up_to)?;
        let marked = store::mark_all(&self.pool, &inbox, up_to).await?;
        Ok(Response::new(pb::MarkAllReadResponse {
            marked,
            unread_count: store::unread_count(&self.pool, &inbox).await?,
        }))
    }

    type StreamNotificationsStream = Events;

    async fn stream_notifications(
        &self,
        req: Request<pb::StreamNotificationsRequest>,
    ) -> Reply<Events> {
        let inbox = inbox_of(&Caller::of(&req))?;
        let after = Cursor::parse("after", &req.get_ref().after)?;
        let start = match after {
            Some(c) => c,
            None => store::head(&self.pool, &inbox).await?,
        };
        let (tx, rx) = mpsc::channel(16);
        // Subscribed before the first read: a notification committed in between wakes it.
        let wakeups = self.wakeups.subscribe();
        tokio::spawn(follow(
            self.pool.clone(),
            inbox,
            start,
            tx,
            wakeups,
            self.heartbeat,
            self.shutdown.clone(),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

type Sink = mpsc::Sender<std::result::Result<pb::StreamNotificationsResponse, Status>>;

/// Feeds one open stream: what is there after the cursor, then each new notification as the
/// recipients are woken, with a heartbeat (and a fresh look, in case a wake-up was lost) when
/// nothing happened for a while. Ends when the client goes or the service stops.
async fn follow(
    pool: PgPool,
    inbox: Inbox,
    mut cursor: Cursor,
    tx: Sink,
    mut wakeups: broadcast::Receiver<Arc<str>>,
    heartbeat: Duration,
    shutdown: CancellationToken,
) {
    metrics::gauge!("yiwang_inbox_streams_open").increment(1.0);
    let _open = scopeguard(|| metrics::gauge!("yiwang_inbox_streams_open").decrement(1.0));
    loop {
        // Catch up.
        loop {
            let rows = match store::since(&pool, &inbox, cursor, CATCH_UP_BATCH).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "inbox stream: read failed; ending the stream");
                    let _ = tx
                        .send(Err(Status::from(Error::unavailable(
                            "the inbox could not be read; reconnect with the last event id",
                        ))))
                        .await;
                    return;
                }
            };
            if rows.is_empty() {
                break;
            }
            for r in rows {
                if r.recipient == inbox.personal {
                    cursor.personal = r.seq;
                } else {
                    cursor.unit = r.seq;
                }
                let message = pb::StreamNotificationsResponse {
                    notification: Some(to_pb(r)),
                    cursor: cursor.to_string(),
                    heartbeat: false,
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        }
        // Wait for news of this inbox, or send a heartbeat.
        let beat = tokio::time::sleep(heartbeat);
        tokio::pin!(beat);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                _ = &mut beat => {
                    let message = pb::StreamNotificationsResponse {
                        notification: None,
                        cursor: cursor.to_string(),
                        heartbeat: true,
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                    break;
                }
                woken = wakeups.recv() => match woken {
                    Ok(key) if *key == *inbox.personal
                        || inbox.unit.as_deref() == Some(&*key)
                        || &*key == "*" => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

/// Runs `f` when dropped (however the stream's task ends).
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
