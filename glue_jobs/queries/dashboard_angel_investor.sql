-- Angel investor dashboard per tenant: the latest investments and amount invested of each angel, summed, and their average IRR.
SELECT
    tenant_id,
    count(DISTINCT subject_id) AS angels,
    sum(CASE WHEN metric = 'investments' THEN value END) AS investments,
    sum(CASE WHEN metric = 'total_invested' THEN value END) AS total_invested,
    round(avg(CASE WHEN metric = 'irr' THEN value END), 3) AS avg_irr
FROM current_dashboard_metric
WHERE user_type = 'angel_investor'
GROUP BY tenant_id
ORDER BY tenant_id
