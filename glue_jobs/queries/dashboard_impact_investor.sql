-- Impact investor dashboard per tenant: the investors' average latest social ROI and SDG alignment, and the lives they impacted.
SELECT
    tenant_id,
    count(DISTINCT subject_id) AS investors,
    round(avg(CASE WHEN metric = 'social_roi' THEN value END), 3) AS avg_social_roi,
    sum(CASE WHEN metric = 'lives_impacted' THEN value END) AS lives_impacted,
    round(avg(CASE WHEN metric = 'sdg_alignment' THEN value END), 2) AS avg_sdg_alignment
FROM current_dashboard_metric
WHERE user_type = 'impact_investor'
GROUP BY tenant_id
ORDER BY tenant_id
