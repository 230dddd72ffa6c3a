-- PostgreSQL: the job log's seq comes from a sequence, so enqueues and requeues on
-- several hubs never wait on one counter row. It continues from the counter.
CREATE SEQUENCE job_seq;
SELECT setval('job_seq', GREATEST((SELECT value FROM counters WHERE name = 'seq'), 1), (SELECT value FROM counters WHERE name = 'seq') > 0);
DELETE FROM counters WHERE name = 'seq';
