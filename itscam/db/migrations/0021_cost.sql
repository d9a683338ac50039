-- Cost reports (issue 6): the ingested billing export (AWS Cost and Usage
-- Report columns, snake-cased), cluster usage, and the monthly report tables.
-- Re-ingesting a billing period replaces its rows (delete + insert per period).

CREATE SCHEMA IF NOT EXISTS cost;

CREATE TABLE IF NOT EXISTS cost.cur_line_items (
    billing_period     date NOT NULL,
    line_item_id       text NOT NULL,
    line_item_type     text NOT NULL,
    usage_start        timestamptz NOT NULL,
    usage_end          timestamptz NOT NULL,
    product_code       text NOT NULL,
    usage_type         text NOT NULL,
    operation          text,
    resource_id        text,
    usage_amount       double precision NOT NULL,
    unblended_rate     double precision,
    unblended_cost     double precision NOT NULL,
    public_od_rate     double precision,
    public_od_cost     double precision,
    pricing_term       text,
    instance_type      text,
    region             text,
    effective_cost     double precision,
    node_pool          text,
    category           text NOT NULL,
    source_file        text NOT NULL,
    PRIMARY KEY (billing_period, line_item_id)
);
CREATE INDEX IF NOT EXISTS cur_line_items_pool_idx ON cost.cur_line_items (billing_period, node_pool);

CREATE TABLE IF NOT EXISTS cost.cluster_usage (
    billing_period   date NOT NULL,
    hour             timestamptz NOT NULL,
    node_pool        text NOT NULL,
    instance_type    text NOT NULL,
    nodes            integer NOT NULL,
    gpus             integer NOT NULL,
    cpu_util         double precision,
    mem_util         double precision,
    gpu_util         double precision,
    frames_processed bigint NOT NULL DEFAULT 0,
    cameras_online   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (billing_period, hour, node_pool)
);

CREATE TABLE IF NOT EXISTS cost.budget_report (
    billing_period date NOT NULL,
    category       text NOT NULL,
    budget_usd     double precision NOT NULL,
    actual_usd     double precision NOT NULL,
    on_demand_usd  double precision NOT NULL,
    variance_usd   double precision NOT NULL,
    pct_of_budget  double precision NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (billing_period, category)
);

CREATE TABLE IF NOT EXISTS cost.pool_coverage (
    billing_period     date NOT NULL,
    node_pool          text NOT NULL,
    node_hours         double precision NOT NULL,
    steady_state_nodes double precision NOT NULL,
    reserved_nodes     double precision NOT NULL,
    reserved_coverage  double precision NOT NULL,
    spot_share         double precision NOT NULL,
    actual_usd         double precision NOT NULL,
    savings_usd        double precision NOT NULL,
    status             text NOT NULL,
    PRIMARY KEY (billing_period, node_pool)
);

CREATE TABLE IF NOT EXISTS cost.rightsizing (
    billing_period          date NOT NULL,
    node_pool               text NOT NULL,
    finding                 text NOT NULL,
    detail                  text NOT NULL,
    est_monthly_savings_usd double precision NOT NULL,
    PRIMARY KEY (billing_period, node_pool, finding)
);

CREATE TABLE IF NOT EXISTS cost.report_summary (
    billing_period           date PRIMARY KEY,
    total_usd                double precision NOT NULL,
    budget_usd               double precision NOT NULL,
    on_demand_equivalent_usd double precision NOT NULL,
    savings_usd              double precision NOT NULL,
    cameras                  integer NOT NULL,
    cost_per_camera_usd      double precision,
    frames_processed         double precision NOT NULL,
    cost_per_1000_frames_usd double precision,
    report_md                text NOT NULL,
    computed_at              timestamptz NOT NULL DEFAULT now()
);
