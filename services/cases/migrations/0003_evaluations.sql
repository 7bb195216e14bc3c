-- 好差评 (GB/T 39734/39735): one evaluation per case by its applicant; 差评 (levels 1–2) open a
-- rectification the handling department completes within a working-day deadline, followed by
-- a callback (回访) to the applicant.

CREATE TABLE evaluations (
    id         uuid PRIMARY KEY,
    case_id    uuid NOT NULL UNIQUE REFERENCES cases (id),
    level      int NOT NULL CHECK (level BETWEEN 1 AND 5),
    dimensions jsonb NOT NULL DEFAULT '{}',
    comment    text NOT NULL DEFAULT '',
    evaluator  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rectifications (
    id                 uuid PRIMARY KEY,
    evaluation_id      uuid NOT NULL UNIQUE REFERENCES evaluations (id),
    case_id            uuid NOT NULL REFERENCES cases (id),
    department         text NOT NULL,
    state              text NOT NULL CHECK (state IN ('open', 'completed', 'called_back')),
    deadline           timestamptz NOT NULL,
    completion_note    text NOT NULL DEFAULT '',
    completed_by       text NOT NULL DEFAULT '',
    completed_at       timestamptz,
    callback_note      text NOT NULL DEFAULT '',
    callback_satisfied boolean NOT NULL DEFAULT false,
    called_back_by     text NOT NULL DEFAULT '',
    called_back_at     timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rectifications_by_department ON rectifications (department, created_at DESC, id DESC);
