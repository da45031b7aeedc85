-- ESG funder dashboard per tenant: the funders' average latest ESG score and their total carbon reduction.
SELECT
    tenant_id,
    count(DISTINCT subject_id) AS funders,
    round(avg(CASE WHEN metric = 'esg_score' THEN value END), 2) AS avg_esg_score,
    sum(CASE WHEN metric = 'carbon_reduction' THEN value END) AS carbon_reduction_tco2e
FROM current_dashboard_metric
WHERE user_type = 'esg_funder'
GROUP BY tenant_id
ORDER BY tenant_id
