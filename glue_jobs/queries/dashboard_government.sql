-- Government dashboard per tenant: the latest startups monitored, grants and economic impact of each agency, summed.
SELECT
    tenant_id,
    count(DISTINCT subject_id) AS agencies,
    sum(CASE WHEN metric = 'startups_monitored' THEN value END) AS startups_monitored,
    sum(CASE WHEN metric = 'grants' THEN value END) AS grants,
    sum(CASE WHEN metric = 'economic_impact' THEN value END) AS economic_impact
FROM current_dashboard_metric
WHERE user_type = 'government'
GROUP BY tenant_id
ORDER BY tenant_id
