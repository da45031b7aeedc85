-- Loan funding progress: each live loan's accepted contributions against its amount.
WITH funded AS (
    SELECT tenant_id, loan_id, sum(contribution_amount) AS total_funded, count(*) AS lenders
    FROM current_loan_participant
    WHERE status = 'accepted' AND NOT is_deleted
    GROUP BY tenant_id, loan_id
)
SELECT
    l.tenant_id,
    l.loan_id,
    l.status,
    l.amount,
    coalesce(f.total_funded, 0) AS total_funded,
    coalesce(f.lenders, 0) AS lenders,
    round(CAST(coalesce(f.total_funded, 0) AS DOUBLE) * 100 / CAST(l.amount AS DOUBLE), 2) AS funding_percentage,
    coalesce(f.total_funded, 0) >= l.amount AS is_fully_funded
FROM current_loan AS l
LEFT JOIN funded AS f
    ON f.tenant_id = l.tenant_id AND f.loan_id = l.loan_id
WHERE NOT l.is_deleted
ORDER BY l.tenant_id, l.loan_id
