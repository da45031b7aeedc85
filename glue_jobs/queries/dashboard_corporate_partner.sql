-- Corporate partner dashboard per tenant: the latest active partnerships and pilots of each partner, summed, and their average ROI.
SELECT
    tenant_id,
    count(DISTINCT subject_id) AS partners,
    sum(CASE WHEN metric = 'active_partnerships' THEN value END) AS active_partnerships,
    sum(CASE WHEN metric = 'pilots' THEN value END) AS pilots,
    round(avg(CASE WHEN metric = 'roi' THEN value END), 3) AS avg_roi
FROM current_dashboard_metric
WHERE user_type = 'corporate_partner'
GROUP BY tenant_id
ORDER BY tenant_id
