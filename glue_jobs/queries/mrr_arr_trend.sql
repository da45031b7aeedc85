-- MRR and ARR trend by industry and stage: per month, the last metric point of the month of
-- every live startup, summed by the startup's industry and stage.
WITH points AS (
    SELECT
        m.tenant_id,
        m.startup_id,
        m.mrr,
        m.arr,
        date_trunc('month', m."date") AS period_month,
        row_number() OVER (
            PARTITION BY m.tenant_id, m.startup_id, date_trunc('month', m."date")
            ORDER BY m."date" DESC
        ) AS point_rank
    FROM current_startup_metric AS m
)
SELECT
    s.industry,
    s.stage,
    CAST(p.period_month AS DATE) AS period_month,
    count(*) AS startups,
    sum(p.mrr) AS mrr,
    sum(p.arr) AS arr
FROM points AS p
JOIN current_startup AS s
    ON s.tenant_id = p.tenant_id AND s.startup_id = p.startup_id
WHERE p.point_rank = 1 AND NOT s.is_deleted
GROUP BY s.industry, s.stage, CAST(p.period_month AS DATE)
ORDER BY s.industry, s.stage, period_month
