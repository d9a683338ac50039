-- Traffic statistics tiers written by the Dagster platform (issue 6):
-- 15-minute HCM statistics, and hourly and daily rollups derived from them.
-- Retention follows the seed's tiers: 15-minute and hourly 30 days, daily 1 year.
-- Units: flows per hour per lane, speeds km/h, densities pc/mi/ln (and pc/km/ln),
-- heavy_pct in percent, occupancy and healthy_share in 0..1.

SELECT ops.create_time_table('analytics.traffic_stats', $cols$
    camera_id        text NOT NULL,
    lane_id          text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('forward', 'reverse')),
    interval_start   timestamptz NOT NULL,
    interval_end     timestamptz NOT NULL,
    car              integer NOT NULL,
    motorcycle       integer NOT NULL,
    bus              integer NOT NULL,
    truck            integer NOT NULL,
    volume           integer NOT NULL,
    flow_veh_h_ln    double precision NOT NULL,
    heavy_pct        double precision,
    f_hv             double precision NOT NULL,
    flow_pc_h_ln     double precision NOT NULL,
    mean_speed_kmh   double precision,
    speed_p85_kmh    double precision,
    speed_samples    integer NOT NULL DEFAULT 0,
    occupancy        double precision,
    density_pc_mi_ln double precision,
    density_pc_km_ln double precision,
    los              text CHECK (los IN ('A', 'B', 'C', 'D', 'E', 'F')),
    minutes_reported smallint NOT NULL,
    healthy_share    double precision NOT NULL,
    coverage_ok      boolean NOT NULL,
    e_t              double precision NOT NULL,
    computed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, lane_id, direction, interval_start)
$cols$, 'interval_start', '1 day', '30 days');

SELECT ops.create_time_table('analytics.traffic_stats_hourly', $cols$
    camera_id         text NOT NULL,
    lane_id           text NOT NULL,
    direction         text NOT NULL CHECK (direction IN ('forward', 'reverse')),
    hour_start        timestamptz NOT NULL,
    car               integer NOT NULL,
    motorcycle        integer NOT NULL,
    bus               integer NOT NULL,
    truck             integer NOT NULL,
    volume            integer NOT NULL,
    peak_15min_volume integer NOT NULL,
    phf               double precision,
    heavy_pct         double precision,
    f_hv              double precision NOT NULL,
    peak_flow_pc_h_ln double precision NOT NULL,
    mean_speed_kmh    double precision,
    speed_p85_kmh     double precision,
    speed_samples     integer NOT NULL DEFAULT 0,
    occupancy         double precision,
    density_pc_mi_ln  double precision,
    los               text CHECK (los IN ('A', 'B', 'C', 'D', 'E', 'F')),
    worst_15min_los   text,
    intervals         smallint NOT NULL,
    healthy_share     double precision NOT NULL,
    coverage_ok       boolean NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, lane_id, direction, hour_start)
$cols$, 'hour_start', '1 day', '30 days');

SELECT ops.create_time_table('analytics.traffic_stats_daily', $cols$
    camera_id        text NOT NULL,
    lane_id          text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('forward', 'reverse')),
    day              timestamptz NOT NULL,
    car              integer NOT NULL,
    motorcycle       integer NOT NULL,
    bus              integer NOT NULL,
    truck            integer NOT NULL,
    volume           integer NOT NULL,
    peak_hour_start  timestamptz,
    peak_hour_volume integer NOT NULL,
    peak_hour_phf    double precision,
    heavy_pct        double precision,
    mean_speed_kmh   double precision,
    speed_p85_kmh    double precision,
    speed_samples    integer NOT NULL DEFAULT 0,
    occupancy        double precision,
    worst_los        text,
    hours_los_e_f    smallint NOT NULL,
    hours            smallint NOT NULL,
    healthy_share    double precision NOT NULL,
    coverage_ok      boolean NOT NULL,
    computed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, lane_id, direction, day)
$cols$, 'day', '1 month', '365 days');

SELECT ops.ensure_partitions(p::regclass, now() - interval '1 day', now() + interval '2 days')
  FROM unnest(ARRAY['analytics.traffic_stats', 'analytics.traffic_stats_hourly',
                    'analytics.traffic_stats_daily']) AS p
 WHERE EXISTS (SELECT 1 FROM ops.partition_config pc WHERE pc.parent = p::regclass);
