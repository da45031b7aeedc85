-- Document uploads per startup and type: every document created, with its bytes.
SELECT
    d.tenant_id,
    d.startup_id,
    d.document_type,
    count(*) AS uploads,
    sum(d.file_size_bytes) AS bytes
FROM curated_document AS d
WHERE d.event_type = 'document.created'
GROUP BY d.tenant_id, d.startup_id, d.document_type
ORDER BY d.tenant_id, d.startup_id, d.document_type
