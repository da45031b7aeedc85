-- Activity and aux-token leaderboard per tenant: activities and tokens per startup, ranked by tokens earned.
SELECT
    a.tenant_id,
    a.startup_id,
    count(*) AS activities,
    sum(a.aux_tokens_earned) AS tokens_earned,
    sum(a.aux_tokens_spent) AS tokens_spent,
    rank() OVER (PARTITION BY a.tenant_id ORDER BY sum(a.aux_tokens_earned) DESC) AS leaderboard_rank
FROM current_activity AS a
WHERE NOT a.is_deleted
GROUP BY a.tenant_id, a.startup_id
ORDER BY a.tenant_id, leaderboard_rank, a.startup_id
