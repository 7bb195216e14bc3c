-- The checks the website office runs in rounds: 错敏词 over everything published, every time
-- the dictionary changes, and 错链/死链 over every link a published post holds, on a schedule.

-- One background pass per state of the dictionary (its word count and newest word); the
-- replica whose insert wins runs it, another takes it over when the lease lapses.
CREATE TABLE dictionary_scans (
    id            bigserial PRIMARY KEY,
    version       text NOT NULL UNIQUE,
    words         integer NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz NOT NULL,
    finished_at   timestamptz,
    posts_scanned bigint NOT NULL DEFAULT 0,
    new_findings  bigint NOT NULL DEFAULT 0
);

-- The findings standing in what is published: written when a post is published and by every
-- pass; `scan_id` is the pass that first found it (NULL: found at publication, when the final
-- reviewer saw it and overrode it).
CREATE TABLE post_findings (
    post_id    uuid NOT NULL REFERENCES posts (id),
    field      text NOT NULL,
    start_at   integer NOT NULL,
    end_at     integer NOT NULL,
    text       text NOT NULL,
    word       text NOT NULL,
    kind       text NOT NULL,
    suggestion text NOT NULL,
    note       text NOT NULL,
    scan_id    bigint REFERENCES dictionary_scans (id),
    found_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, field, start_at, word)
);
CREATE INDEX post_findings_by_scan ON post_findings (scan_id) WHERE scan_id IS NOT NULL;

-- Every distinct link of a published post (its href or src, resolved against the site), checked
-- once however many posts hold it. `state`: unchecked | ok | dead | blocked (an address the
-- checker may not visit: loopback, private and link-local networks).
CREATE TABLE links (
    url           text PRIMARY KEY,
    host          text NOT NULL,
    state         text NOT NULL DEFAULT 'unchecked' CHECK (state IN ('unchecked', 'ok', 'dead', 'blocked')),
    -- Why it is dead: http_4xx | http_5xx | timeout | dns | connect | soft_404 | redirects | blocked
    failure       text NOT NULL DEFAULT '',
    http_status   integer,
    detail        text NOT NULL DEFAULT '',
    attempts      integer NOT NULL DEFAULT 0,
    checked_at    timestamptz,
    dead_since    timestamptz,
    next_check_at timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz
);
CREATE INDEX links_due ON links (next_check_at);

CREATE TABLE post_links (
    post_id  uuid NOT NULL REFERENCES posts (id),
    url      text NOT NULL REFERENCES links (url),
    -- On the post's own site (its domain), or elsewhere.
    internal boolean NOT NULL,
    PRIMARY KEY (post_id, url)
);
CREATE INDEX post_links_by_url ON post_links (url);

-- Attachments: a name and a link each (the checker follows them like any other link).
ALTER TABLE posts ADD COLUMN draft_attachments jsonb NOT NULL DEFAULT '[]',
                  ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]';
