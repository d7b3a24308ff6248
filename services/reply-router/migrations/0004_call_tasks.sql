-- Call tasks (`contact.requested.call`): a strategy's escalation asks the debtor's assigned advisor to phone them.
-- Each lands in that advisor's queue (joining the debtor's open item there) and is recorded like any attempt.
CREATE TABLE reply_router.call_tasks (
    task_id       UUID PRIMARY KEY,
    debtor_id     TEXT NOT NULL,
    credit_id     TEXT NOT NULL,
    advisor_id    UUID,
    queue_item_id UUID REFERENCES reply_router.queue_items (id),
    strategy      TEXT NOT NULL,
    body          TEXT NOT NULL,
    requested_at  TIMESTAMPTZ NOT NULL,
    queued_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX call_tasks_debtor ON reply_router.call_tasks (debtor_id, queued_at);
