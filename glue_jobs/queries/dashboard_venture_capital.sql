-- Venture capital dashboard per tenant: the latest portfolio size, AUM, deal flow and exits of each fund, summed.
SELECT
    tenant_id,
    count(DISTINCT subject_id) AS funds,
    sum(CASE WHEN metric = 'portfolio_size' THEN value END) AS portfolio_size,
    sum(CASE WHEN metric = 'aum' THEN value END) AS aum,
    sum(CASE WHEN metric = 'deal_flow' THEN value END) AS deal_flow,
    sum(CASE WHEN metric = 'exits' THEN value END) AS exits
FROM current_dashboard_metric
WHERE user_type = 'venture_capital'
GROUP BY tenant_id
ORDER BY tenant_id
