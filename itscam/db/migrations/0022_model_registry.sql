-- Model registry (issue 6): every weights file seen in the model inbox and
-- every version published to the Triton model repository, with the gates it
-- passed or failed. state: candidate -> rejected | serving -> previous | rolled_back.

CREATE TABLE IF NOT EXISTS ops.model_versions (
    id            bigserial PRIMARY KEY,
    model_name    text NOT NULL,
    version       integer,
    state         text NOT NULL CHECK (state IN ('candidate', 'rejected', 'serving', 'previous', 'rolled_back')),
    source_path   text NOT NULL,
    sha256        text NOT NULL,
    map50         double precision,
    baseline_map50 double precision,
    latency_ms    double precision,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_version_idx
    ON ops.model_versions (model_name, version) WHERE version IS NOT NULL;
CREATE INDEX IF NOT EXISTS model_versions_sha_idx ON ops.model_versions (model_name, sha256);
