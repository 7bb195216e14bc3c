//! The gRPC API (yiwang.content.v1.ContentService): each method reads the caller and hands the
//! request to the module that owns the resource.

use std::sync::Arc;

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use yiwang_kit::Caller;
use yiwang_kit::auth::roles;
use yiwang_proto::content::v1 as pb;
use yiwang_proto::content::v1::content_service_server::ContentService;

use crate::dictionary::{self, Dictionary};
use crate::{dictionary_scan, links, media, message, post, site, stats};

pub struct ContentApi {
    pub pool: PgPool,
    /// Listings and statistics: a read replica when one is configured (read-your-writes kept).
    pub reads: yiwang_kit::db::Reads,
    pub dictionary: Arc<Dictionary>,
    /// Seals messages' contact data until their tickets hold it.
    pub key: yiwang_kit::crypto::DataKey,
    pub cases: message::Cases,
}

type Reply<T> = Result<Response<T>, Status>;

const STAFF: &[&str] = &[
    roles::CONTENT_ADMIN,
    roles::CONTENT_AUTHOR,
    roles::CONTENT_FIRST_REVIEWER,
    roles::CONTENT_SECOND_REVIEWER,
    roles::CONTENT_FINAL_REVIEWER,
];

/// Who reads the 错敏词 rounds: the administrators and the reviewers.
const ROUND_READERS: &[&str] = &[
    roles::CONTENT_ADMIN,
    roles::CONTENT_FIRST_REVIEWER,
    roles::CONTENT_SECOND_REVIEWER,
    roles::CONTENT_FINAL_REVIEWER,
];

#[tonic::async_trait]
impl ContentService for ContentApi {
    async fn create_site(&self, req: Request<pb::CreateSiteRequest>) -> Reply<pb::Site> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_ADMIN])?;
        Ok(Response::new(
            site::create_site(&self.pool, &c, req.into_inner()).await?,
        ))
    }

    async fn list_sites(&self, req: Request<pb::ListSitesRequest>) -> Reply<pb::ListSitesResponse> {
        let c = Caller::of(&req);
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(pb::ListSitesResponse {
            sites: site::list_sites(pool).await?,
        }))
    }

    async fn create_column(&self, req: Request<pb::CreateColumnRequest>) -> Reply<pb::Column> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_ADMIN])?;
        Ok(Response::new(
            site::create_column(&self.pool, &c, req.into_inner()).await?,
        ))
    }

    async fn list_columns(
        &self,
        req: Request<pb::ListColumnsRequest>,
    ) -> Reply<pb::ListColumnsResponse> {
        let c = Caller::of(&req);
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(pb::ListColumnsResponse {
            columns: site::list_columns(pool, &req.get_ref().site_id).await?,
        }))
    }

    async fn list_column_posts(
        &self,
        req: Request<pb::ListColumnPostsRequest>,
    ) -> Reply<pb::ListPostsResponse> {
        let c = Caller::of(&req);
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(post::list_public(pool, req.get_ref()).await?))
    }

    async fn get_post(&self, req: Request<pb::GetPostRequest>) -> Reply<pb::Post> {
        let c = Caller::of(&req);
        Ok(Response::new(
            post::get(&self.pool, &self.dictionary, &c, &req.get_ref().id).await?,
        ))
    }

    async fn create_post(&self, req: Request<pb::CreatePostRequest>) -> Reply<pb::Post> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_AUTHOR])?;
        Ok(Response::new(
            post::create(&self.pool, &self.dictionary, &c, req.into_inner()).await?,
        ))
    }

    async fn update_post(&self, req: Request<pb::UpdatePostRequest>) -> Reply<pb::Post> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_AUTHOR])?;
        Ok(Response::new(
            post::update(&self.pool, &self.dictionary, &c, req.into_inner()).await?,
        ))
    }

    async fn submit_post(&self, req: Request<pb::PostActionRequest>) -> Reply<pb::Post> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_AUTHOR])?;
        Ok(Response::new(
            post::submit(&self.pool, &self.dictionary, &c, &req.get_ref().id).await?,
        ))
    }

    async fn review_post(&self, req: Request<pb::ReviewPostRequest>) -> Reply<pb::Post> {
        let c = Caller::of(&req);
        c.require_any_role(post::REVIEWERS)?;
        Ok(Response::new(
            post::review(&self.pool, &self.dictionary, &c, req.into_inner()).await?,
        ))
    }

    async fn withdraw_post(&self, req: Request<pb::PostActionRequest>) -> Reply<pb::Post> {
        let c = Caller::of(&req);
        Ok(Response::new(
            post::withdraw(&self.pool, &self.dictionary, &c, req.into_inner()).await?,
        ))
    }

    async fn list_review_queue(
        &self,
        req: Request<pb::ListReviewQueueRequest>,
    ) -> Reply<pb::ListPostsResponse> {
        let c = Caller::of(&req);
        c.require_any_role(post::REVIEWERS)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(
            post::review_queue(pool, &c, req.get_ref()).await?,
        ))
    }

    async fn add_word(&self, req: Request<pb::AddWordRequest>) -> Reply<pb::Word> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_ADMIN])?;
        Ok(Response::new(
            self.dictionary.add(&c, req.into_inner()).await?,
        ))
    }

    async fn list_words(&self, req: Request<pb::ListWordsRequest>) -> Reply<pb::ListWordsResponse> {
        let c = Caller::of(&req);
        c.require_any_role(STAFF)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(pb::ListWordsResponse {
            words: self
                .dictionary
                .list(pool, req.get_ref().kind.trim())
                .await?,
        }))
    }

    async fn create_media_account(
        &self,
        req: Request<pb::CreateMediaAccountRequest>,
    ) -> Reply<pb::MediaAccount> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_ADMIN])?;
        Ok(Response::new(
            media::create_account(&self.pool, &c, req.into_inner()).await?,
        ))
    }

    async fn list_media_accounts(
        &self,
        req: Request<pb::ListMediaAccountsRequest>,
    ) -> Reply<pb::ListMediaAccountsResponse> {
        let c = Caller::of(&req);
        c.require_any_role(STAFF)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(pb::ListMediaAccountsResponse {
            accounts: media::list_accounts(pool, req.get_ref().lapsed_only).await?,
        }))
    }

    async fn record_media_post(
        &self,
        req: Request<pb::RecordMediaPostRequest>,
    ) -> Reply<pb::MediaPost> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CONTENT_AUTHOR, roles::SYSTEM])?;
        Ok(Response::new(
            media::record_post(&self.pool, &self.dictionary, &c, req.into_inner()).await?,
        ))
    }

    async fn list_media_posts(
        &self,
        req: Request<pb::ListMediaPostsRequest>,
    ) -> Reply<pb::ListMediaPostsResponse> {
        let c = Caller::of(&req);
        c.require_any_role(STAFF)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(media::list_posts(pool, req.get_ref()).await?))
    }

    async fn submit_message(&self, req: Request<pb::SubmitMessageRequest>) -> Reply<pb::Message> {
        let c = Caller::of(&req);
        c.require_any_role(&[roles::CITIZEN, roles::ENTERPRISE, roles::SYSTEM])?;
        Ok(Response::new(
            message::submit(&self.pool, &self.key, &self.cases, &c, req.into_inner()).await?,
        ))
    }

    async fn get_message(&self, req: Request<pb::GetMessageRequest>) -> Reply<pb::Message> {
        let c = Caller::of(&req);
        Ok(Response::new(
            message::get(&self.pool, &self.cases, &c, &req.get_ref().id).await?,
        ))
    }

    async fn list_published_messages(
        &self,
        req: Request<pb::ListPublishedMessagesRequest>,
    ) -> Reply<pb::ListMessagesResponse> {
        let c = Caller::of(&req);
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(
            message::list_published(pool, req.get_ref()).await?,
        ))
    }

    async fn publish_answer(&self, req: Request<pb::PublishAnswerRequest>) -> Reply<pb::Message> {
        let c = Caller::of(&req);
        Ok(Response::new(
            message::publish_answer(&self.pool, &self.cases, &c, req.into_inner()).await?,
        ))
    }

    async fn get_content_stats(
        &self,
        req: Request<pb::GetContentStatsRequest>,
    ) -> Reply<pb::ContentStats> {
        let c = Caller::of(&req);
        c.require_any_role(&[
            roles::CONTENT_ADMIN,
            roles::CONTENT_FIRST_REVIEWER,
            roles::CONTENT_SECOND_REVIEWER,
            roles::CONTENT_FINAL_REVIEWER,
            roles::SUPERVISOR,
            roles::SYSTEM,
        ])?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(
            stats::get(pool, &self.cases, req.get_ref()).await?,
        ))
    }

    async fn list_findings(
        &self,
        req: Request<pb::ListFindingsRequest>,
    ) -> Reply<pb::ListFindingsResponse> {
        let c = Caller::of(&req);
        c.require_any_role(ROUND_READERS)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(
            dictionary_scan::findings(pool, &self.dictionary, req.get_ref()).await?,
        ))
    }

    async fn list_dictionary_scans(
        &self,
        req: Request<pb::ListDictionaryScansRequest>,
    ) -> Reply<pb::ListDictionaryScansResponse> {
        let c = Caller::of(&req);
        c.require_any_role(ROUND_READERS)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(
            dictionary_scan::list(pool, req.get_ref()).await?,
        ))
    }

    async fn list_broken_links(
        &self,
        req: Request<pb::ListBrokenLinksRequest>,
    ) -> Reply<pb::ListBrokenLinksResponse> {
        let c = Caller::of(&req);
        c.require_any_role(STAFF)?;
        let pool = self.reads.for_caller(&c.sub).await;
        Ok(Response::new(links::broken(pool, req.get_ref()).await?))
    }

    async fn recheck_links(
        &self,
        req: Request<pb::RecheckLinksRequest>,
    ) -> Reply<pb::RecheckLinksResponse> {
        Caller::of(&req).require_any_role(&[roles::CONTENT_ADMIN])?;
        Ok(Response::new(
            links::recheck(&self.pool, req.get_ref()).await?,
        ))
    }

    async fn check_text(&self, req: Request<pb::CheckTextRequest>) -> Reply<pb::CheckTextResponse> {
        Caller::of(&req).require_any_role(STAFF)?;
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        v.text("title", &r.title, false, 200);
        v.text("body", &r.body, false, 500_000);
        v.into_result()?;
        let scanner = self.dictionary.scanner().await?;
        Ok(Response::new(pb::CheckTextResponse {
            findings: dictionary::findings(&scanner, &r.title, &post::sanitize(&r.body)),
        }))
    }
}
