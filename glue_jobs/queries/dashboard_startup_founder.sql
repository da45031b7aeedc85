-- Startup founder dashboard per tenant: each startup's latest metric point (SSE score,
-- revenue, customers, team size, burn rate), over the tenant's startups.
WITH latest AS (
    SELECT
        tenant_id,
        startup_id,
        sse_score,
        mrr,
        total_customers,
        team_size,
        burn_rate,
        row_number() OVER (PARTITION BY tenant_id, startup_id ORDER BY "date" DESC) AS point_rank
    FROM current_startup_metric
)
SELECT
    tenant_id,
    count(*) AS startups,
    round(avg(sse_score), 2) AS avg_sse_score,
    sum(mrr) AS revenue,
    sum(total_customers) AS customers,
    round(avg(team_size), 2) AS avg_team_size,
    sum(burn_rate) AS burn_rate
FROM latest
WHERE point_rank = 1
GROUP BY tenant_id
ORDER BY tenant_id
