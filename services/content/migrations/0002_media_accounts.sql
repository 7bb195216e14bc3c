-- New-media accounts (政务新媒体) and their posts; an account with no post in 7 days has lapsed,
-- and its department is told once per lapse (lapse_notified is cleared by the next post).
CREATE TABLE media_accounts (
    id             text PRIMARY KEY,
    platform       text NOT NULL CHECK (platform IN ('wechat', 'weibo', 'douyin', 'wechat_channels')),
    name           text NOT NULL,
    department     text NOT NULL,
    last_post_at   timestamptz,
    lapse_notified boolean NOT NULL DEFAULT false,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE media_posts (
    id           uuid PRIMARY KEY,
    account_id   text NOT NULL REFERENCES media_accounts (id),
    external_id  text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    published_at timestamptz NOT NULL,
    findings     jsonb NOT NULL DEFAULT '[]',
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id)
);
CREATE INDEX media_posts_newest ON media_posts (account_id, published_at DESC, id DESC);
