-- Investor-match funnel per tenant: matches suggested, and how many ever reached an intro
-- request, a connection or a pass (from every change of every match).
WITH reached AS (
    SELECT
        tenant_id,
        "key",
        max(CASE WHEN status IN ('intro_requested', 'connected') THEN 1 ELSE 0 END) AS intro_requested,
        max(CASE WHEN status = 'connected' THEN 1 ELSE 0 END) AS connected,
        max(CASE WHEN status = 'passed' THEN 1 ELSE 0 END) AS passed
    FROM curated_investor_match
    WHERE status IS NOT NULL
    GROUP BY tenant_id, "key"
)
SELECT
    tenant_id,
    count(*) AS suggested,
    sum(intro_requested) AS intro_requested,
    sum(connected) AS connected,
    sum(passed) AS passed
FROM reached
GROUP BY tenant_id
ORDER BY tenant_id
