-- Core schema: camera registry, frame metadata, detections, crossings, minute
-- counts, events. Time-series tables use native RANGE partitioning so the
-- schema works on plain PostgreSQL; 0002 converts them to TimescaleDB
-- hypertables when that extension is installed.

CREATE SCHEMA IF NOT EXISTS camera_data;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS ops;

-- Use TimescaleDB where the server has it (production); plain PostgreSQL otherwise.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END $$;

-- Partition bookkeeping: width of each partition and how long data is kept
-- (the seed's tiers: raw detections and frames 1 h; the rest by the rollups).
CREATE TABLE IF NOT EXISTS ops.partition_config (
    parent     regclass PRIMARY KEY,
    width      interval NOT NULL CHECK (width IN ('1 hour', '1 day', '1 month')),
    retention  interval            -- NULL = keep forever
);

-- Create a time-series table: a TimescaleDB hypertable when the extension is
-- installed, else a natively RANGE-partitioned table registered for
-- ops.ensure_partitions. Either way the columns and keys are identical.
CREATE OR REPLACE FUNCTION ops.create_time_table(
    tbl text, columns_ddl text, time_col text, width interval, retention interval)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    has_tsdb boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
    IF to_regclass(tbl) IS NULL THEN
        IF has_tsdb THEN
            EXECUTE format('CREATE TABLE %s (%s)', tbl, columns_ddl);
            EXECUTE format('SELECT create_hypertable(%L, %L, chunk_time_interval => %L::interval)',
                           tbl, time_col, width);
        ELSE
            EXECUTE format('CREATE TABLE %s (%s) PARTITION BY RANGE (%I)', tbl, columns_ddl, time_col);
        END IF;
    END IF;
    IF has_tsdb THEN
        IF retention IS NOT NULL THEN
            EXECUTE format('SELECT add_retention_policy(%L, %L::interval, if_not_exists => true)',
                           tbl, retention);
        END IF;
    ELSE
        INSERT INTO ops.partition_config (parent, width, retention)
        VALUES (tbl::regclass, width, retention) ON CONFLICT (parent) DO NOTHING;
    END IF;
END $$;

-- Create every missing partition of `parent` covering [from_ts, to_ts).
-- Idempotent and safe to call concurrently from several writers.
CREATE OR REPLACE FUNCTION ops.ensure_partitions(parent regclass, from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    w interval;
    unit text;
    lo timestamptz;
    hi timestamptz;
    pname text;
    created integer := 0;
    nsp text;
    rel text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = parent) <> 'p' THEN
        RETURN 0;  -- a hypertable: TimescaleDB creates its chunks itself
    END IF;
    SELECT width INTO w FROM ops.partition_config pc WHERE pc.parent = ensure_partitions.parent;
    IF w IS NULL THEN
        RAISE EXCEPTION 'ops.ensure_partitions: % is not registered in ops.partition_config', parent;
    END IF;
    IF to_ts <= from_ts THEN
        to_ts := from_ts + interval '1 microsecond';
    END IF;
    unit := CASE w WHEN '1 hour' THEN 'hour' WHEN '1 day' THEN 'day' ELSE 'month' END;
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = parent;
    lo := date_trunc(unit, from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    WHILE lo < to_ts LOOP
        hi := lo + w;
        pname := rel || '_p' || to_char(lo AT TIME ZONE 'UTC',
                   CASE unit WHEN 'hour' THEN 'YYYYMMDDHH24' WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END);
        IF to_regclass(format('%I.%I', nsp, pname)) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               nsp, pname, parent, lo, hi);
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- a concurrent writer created it first
            END;
        END IF;
        lo := hi;
    END LOOP;
    RETURN created;
END $$;

-- Partitions of `parent` whose whole range ends at or before `older_than`.
CREATE OR REPLACE FUNCTION ops.expired_partitions(parent regclass, older_than timestamptz)
RETURNS TABLE (partition regclass, range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent
       AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
           <= older_than
$$;

CREATE TABLE IF NOT EXISTS camera_data.cameras (
    camera_id   text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    site        text NOT NULL DEFAULT '',
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    fps         real NOT NULL CHECK (fps > 0),
    config      jsonb NOT NULL DEFAULT '{}'::jsonb,
    homography  double precision[],
    updated_at  timestamptz NOT NULL DEFAULT now()
);

SELECT ops.create_time_table('camera_data.frame_metadata', $cols$
    camera_id      text NOT NULL,
    capture_ts     timestamptz NOT NULL,
    frame_seq      bigint NOT NULL,
    ingest_ts      timestamptz,
    width          integer,
    height         integer,
    image_bytes    integer,
    model_version  text,
    inference_ms   real,
    num_detections integer,
    run_id         text,
    PRIMARY KEY (camera_id, capture_ts, frame_seq)
$cols$, 'capture_ts', '1 hour', '1 hour');

SELECT ops.create_time_table('analytics.vehicle_detections', $cols$
    camera_id   text NOT NULL,
    capture_ts  timestamptz NOT NULL,
    frame_seq   bigint NOT NULL,
    det_idx     smallint NOT NULL,
    class_id    smallint NOT NULL,
    class_name  text NOT NULL,
    confidence  real NOT NULL,
    x1 real NOT NULL, y1 real NOT NULL, x2 real NOT NULL, y2 real NOT NULL,
    track_id    bigint,
    run_id      text,
    PRIMARY KEY (camera_id, capture_ts, frame_seq, det_idx)
$cols$, 'capture_ts', '1 hour', '1 hour');

SELECT ops.create_time_table('analytics.crossings', $cols$
    camera_id   text NOT NULL,
    line_id     text NOT NULL,
    lane_id     text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('forward', 'reverse')),
    track_id    bigint NOT NULL,
    class_name  text NOT NULL,
    crossing_ts timestamptz NOT NULL,
    speed_kmh   real,
    run_id      text,
    PRIMARY KEY (camera_id, line_id, track_id, crossing_ts)
$cols$, 'crossing_ts', '1 day', NULL);

SELECT ops.create_time_table('analytics.lane_counts_1m', $cols$
    camera_id      text NOT NULL,
    lane_id        text NOT NULL,
    direction      text NOT NULL CHECK (direction IN ('forward', 'reverse')),
    minute_ts      timestamptz NOT NULL,
    car            integer NOT NULL DEFAULT 0,
    motorcycle     integer NOT NULL DEFAULT 0,
    bus            integer NOT NULL DEFAULT 0,
    truck          integer NOT NULL DEFAULT 0,
    total          integer NOT NULL DEFAULT 0,
    mean_speed_kmh real,
    speed_count    integer NOT NULL DEFAULT 0,
    occupancy      real NOT NULL DEFAULT 0 CHECK (occupancy BETWEEN 0 AND 1),
    mean_headway_s real,
    healthy_s      real NOT NULL DEFAULT 60 CHECK (healthy_s BETWEEN 0 AND 60),
    run_id         text,
    PRIMARY KEY (camera_id, lane_id, direction, minute_ts)
$cols$, 'minute_ts', '1 day', NULL);

CREATE TABLE IF NOT EXISTS analytics.events (
    event_id    text PRIMARY KEY,
    camera_id   text NOT NULL,
    event_type  text NOT NULL CHECK (event_type IN
                  ('congestion', 'stalled_vehicle', 'wrong_way', 'camera_offline', 'incident')),
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    start_ts    timestamptz NOT NULL,
    end_ts      timestamptz,
    lane_id     text,
    zone_id     text,
    evidence    jsonb NOT NULL DEFAULT '{}'::jsonb,
    run_id      text
);
CREATE INDEX IF NOT EXISTS events_camera_start_idx ON analytics.events (camera_id, start_ts);

CREATE TABLE IF NOT EXISTS ops.platform_events (
    id      bigserial PRIMARY KEY,
    ts      timestamptz NOT NULL DEFAULT now(),
    source  text NOT NULL,
    kind    text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'::jsonb
);


-- Partitions around "now" so a fresh database accepts writes at once; writers
-- call ops.ensure_partitions for the span of every batch they write.
SELECT ops.ensure_partitions(parent, now() - interval '1 day', now() + interval '2 days')
  FROM ops.partition_config;
