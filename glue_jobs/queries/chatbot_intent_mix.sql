-- Chatbot intent mix per week: the share of each intent among the week's messages, from the
-- chatbot tables and the published chatbot turns alike.
WITH messages AS (
    SELECT tenant_id, date_trunc('week', message_timestamp) AS week_start, message_intent
    FROM curated_chatbot_message
    WHERE event_type = 'chatbot_message.created'
    UNION ALL
    SELECT tenant_id, date_trunc('week', occurred_at) AS week_start, message_intent
    FROM curated_chatbot_turn
)
SELECT
    tenant_id,
    CAST(week_start AS DATE) AS week_start,
    coalesce(message_intent, 'none') AS intent,
    count(*) AS messages,
    round(CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY tenant_id, CAST(week_start AS DATE)), 4) AS share
FROM messages
GROUP BY tenant_id, CAST(week_start AS DATE), coalesce(message_intent, 'none')
ORDER BY tenant_id, week_start, intent
