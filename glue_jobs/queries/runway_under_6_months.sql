-- Startups with under 6 months of runway: live startups whose profile says so, shortest first.
SELECT
    s.tenant_id,
    s.startup_id,
    s.company_name,
    s.stage,
    s.financial_metrics.runway_months AS runway_months,
    s.financial_metrics.cash_balance AS cash_balance,
    s.financial_metrics.monthly_burn_rate AS monthly_burn_rate
FROM current_startup AS s
WHERE NOT s.is_deleted AND s.financial_metrics.runway_months < 6
ORDER BY runway_months, s.tenant_id, s.startup_id
