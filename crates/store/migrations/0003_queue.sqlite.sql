-- SQLite: the job log's seq stays in `counters` (one writer at a time anyway).
SELECT 1;
