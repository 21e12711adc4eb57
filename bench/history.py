"""The generated data of the benchmark, loaded with SQL (generate_series) straight into the
benchmark's own database: a history of requests, and submitted requests to decide."""
from __future__ import annotations

import time

from core import analyze, sql

# One generated request per i: a history of about five years with a fixed mix of kinds and
# states (10% open), its applicant (a CKAN user) and the audit events its states imply.
HISTORY_SQL = """
CREATE TEMP TABLE bench_gen AS
WITH base AS (
    SELECT i, (hashtext('m' || i)::bigint & 2147483647) %% 100 AS m,
           (hashtext('k' || i)::bigint & 2147483647) %% 100 AS k,
           (hashtext('t' || i)::bigint & 2147483647) AS h, (now() AT TIME ZONE 'UTC') AS now_utc
    FROM generate_series(%(lo)s, %(hi)s) AS i
), st AS (
    SELECT *, CASE WHEN m < 2 THEN 'awaiting_verification' WHEN m < 5 THEN 'awaiting_document'
                   WHEN m < 9 THEN 'submitted' WHEN m < 10 THEN 'returned'
                   WHEN m < 80 THEN 'approved' WHEN m < 86 THEN 'rejected'
                   WHEN m < 89 THEN 'withdrawn' ELSE 'expired' END AS state
    FROM base
), kd AS (
    SELECT *, CASE
        WHEN state IN ('awaiting_document', 'submitted', 'returned', 'rejected') THEN
            CASE WHEN k < 75 THEN 'agency_registration' WHEN k < 92 THEN 'cancellation'
                 ELSE 'suspension' END
        WHEN state = 'awaiting_verification' THEN
            CASE WHEN k < 60 THEN 'developer_registration' ELSE 'agency_registration' END
        ELSE CASE WHEN k < 55 THEN 'developer_registration' WHEN k < 88 THEN 'agency_registration'
                  WHEN k < 96 THEN 'cancellation' ELSE 'suspension' END
        END AS kind
    FROM st
), t0 AS (
    SELECT *,
        CASE WHEN state = 'submitted'
                 THEN now_utc - (h %% 2880) * interval '1 minute' END AS sub_open,
        CASE WHEN state IN ('awaiting_verification', 'awaiting_document')
                 THEN now_utc - (h %% 20160) * interval '1 minute'
             WHEN state = 'returned' THEN now_utc - (2880 + h %% 20160) * interval '1 minute'
             ELSE now_utc - interval '14 days' - (h %% 2628000) * interval '1 minute' END AS c0
    FROM kd
), t1 AS (
    SELECT *,
        CASE WHEN state = 'submitted' THEN sub_open - (30 + (h / 7) %% 4320) * interval '1 minute'
             ELSE c0 END AS created
    FROM t0
), t2 AS (
    SELECT *,
        CASE WHEN state = 'submitted' THEN sub_open
             WHEN kind <> 'developer_registration'
                  AND state IN ('returned', 'approved', 'rejected') THEN created + interval '1 day'
             END AS submitted,
        CASE WHEN kind IN ('cancellation', 'suspension') THEN NULL
             WHEN state = 'awaiting_verification' THEN NULL
             WHEN kind = 'developer_registration' AND state IN ('withdrawn', 'expired') THEN NULL
             ELSE created + (1 + h %% 30) * interval '1 minute' END AS verified
    FROM t1
), t3 AS (
    SELECT *,
        submitted + interval '24 hours' AS due,
        CASE WHEN kind = 'developer_registration' AND state = 'approved' THEN verified
             WHEN state = 'returned' THEN submitted + interval '5 hours'
             WHEN state IN ('approved', 'rejected')
                 THEN submitted + ((h / 11) %% 40) * interval '1 hour'
                      + (h %% 60) * interval '1 minute'
             END AS decided
    FROM t2
)
SELECT i, state, kind, created, verified, submitted, due, decided,
       coalesce(decided, created + interval '3 days') AS updated,
       'applicant' || i || '@agency' || (i %% 400) || '.go.th' AS email,
       'DGA-' || extract(year FROM created)::int || '-' || lpad(i::text, 7, '0') AS reference
FROM t3;

INSERT INTO "user" (id, name, email, fullname, password, created, state, sysadmin, plugin_extras)
SELECT 'bench-u-' || i, 'bench-applicant-' || i, email, 'ผู้สมัคร ทดสอบ ' || i, '!', created,
       CASE WHEN kind IN ('cancellation', 'suspension') THEN
                CASE WHEN state = 'approved' AND kind = 'cancellation' THEN 'deleted'
                     WHEN state = 'approved' THEN 'pending' ELSE 'active' END
            WHEN state = 'approved' THEN 'active'
            WHEN state IN ('rejected', 'withdrawn', 'expired') THEN 'deleted'
            ELSE 'pending' END,
       false, '{"dgaaccounts": {"locale": "th"}}'::jsonb
FROM bench_gen;

INSERT INTO dgaaccounts_request (id, reference, kind, state, user_id, email, organization_id,
    details, locale, created, updated, verified, submitted, due, decided, decided_by,
    decision_note)
SELECT 'bench-r-' || i, reference, kind, state, 'bench-u-' || i, email, NULL,
       CASE kind
           WHEN 'agency_registration' THEN jsonb_build_object(
               'agency_name', 'หน่วยงานทดสอบ ' || (i %% 400), 'position', 'นักวิชาการคอมพิวเตอร์',
               'phone', '02 612 6000', 'superior_name', 'ผู้อำนวยการ ' || (i %% 400),
               'superior_position', 'ผู้อำนวยการกอง')
           WHEN 'developer_registration' THEN jsonb_build_object('purpose', 'แอปข้อมูลเปิด')
           ELSE jsonb_build_object('reason', 'ย้ายหน่วยงาน', 'memberships', '[]'::jsonb) END,
       'th', created, updated, verified, submitted, due, decided,
       CASE WHEN decided IS NULL THEN NULL
            WHEN kind = 'developer_registration' THEN 'bench-u-' || i ELSE %(admin)s END,
       CASE WHEN state = 'returned' THEN 'โปรดแนบแบบฟอร์มที่ลงนามครบ'
            WHEN state = 'rejected' THEN 'ไม่ใช่เจ้าหน้าที่ของหน่วยงาน' END
FROM bench_gen;

INSERT INTO dgaaccounts_audit (created, actor_id, action, request_id, target_user_id,
                               from_state, to_state, details, client_addr)
SELECT ts, actor, action, 'bench-r-' || i, 'bench-u-' || i, from_state, to_state, '{}'::jsonb,
       '192.0.2.1'
FROM (
    SELECT i, created AS ts, 'bench-u-' || i AS actor,
           CASE WHEN kind IN ('cancellation', 'suspension') THEN 'request_create'
                ELSE 'register' END AS action,
           NULL AS from_state,
           CASE WHEN kind IN ('cancellation', 'suspension') THEN 'awaiting_document'
                ELSE 'awaiting_verification' END AS to_state
    FROM bench_gen
    UNION ALL
    SELECT i, verified, 'bench-u-' || i, 'verify_email', 'awaiting_verification',
           CASE WHEN kind = 'developer_registration' THEN 'approved'
                ELSE 'awaiting_document' END
    FROM bench_gen WHERE verified IS NOT NULL
    UNION ALL
    SELECT i, submitted, 'bench-u-' || i, 'upload_document', 'awaiting_document', 'submitted'
    FROM bench_gen WHERE submitted IS NOT NULL
    UNION ALL
    SELECT i, decided, %(admin)s,
           CASE state WHEN 'approved' THEN 'approve' WHEN 'rejected' THEN 'reject'
                      ELSE 'return' END,
           'submitted', state
    FROM bench_gen WHERE decided IS NOT NULL AND kind <> 'developer_registration'
    UNION ALL
    SELECT i, updated, CASE WHEN state = 'withdrawn' THEN 'bench-u-' || i END,
           CASE WHEN state = 'withdrawn' THEN 'withdraw' ELSE 'expire' END,
           'awaiting_verification', state
    FROM bench_gen WHERE state IN ('withdrawn', 'expired')
) AS events
ORDER BY ts;

DROP TABLE bench_gen;
"""

# Submitted agency registrations for the decision benchmark, with their applicants and events.
PENDING_SQL = """
INSERT INTO "user" (id, name, email, fullname, password, created, state, sysadmin, plugin_extras)
SELECT 'bench-du-' || i, 'bench-decide-' || i, 'decide' || i || '@agency.go.th',
       'ผู้สมัคร รออนุมัติ ' || i, '!', now() AT TIME ZONE 'UTC' - interval '2 hours', 'pending',
       false, '{"dgaaccounts": {"locale": "th"}}'::jsonb
FROM generate_series(%(lo)s, %(hi)s) AS i;

INSERT INTO dgaaccounts_request (id, reference, kind, state, user_id, email, details, locale,
    created, updated, verified, submitted, due)
SELECT 'bench-d-' || i, 'DGA-D-' || lpad(i::text, 6, '0'), 'agency_registration', 'submitted',
       'bench-du-' || i, 'decide' || i || '@agency.go.th',
       jsonb_build_object('position', 'นักวิเคราะห์', 'phone', '02 000 0000',
                          'superior_name', 'ผู้อำนวยการ', 'superior_position', 'ผู้อำนวยการกอง'),
       'th', n - interval '2 hours', n - interval '1 hour', n - interval '110 minutes',
       n - interval '1 hour', n + interval '23 hours'
FROM generate_series(%(lo)s, %(hi)s) AS i, (SELECT now() AT TIME ZONE 'UTC' AS n) AS t;

INSERT INTO dgaaccounts_audit (created, actor_id, action, request_id, target_user_id,
                               from_state, to_state, details)
SELECT n - interval '1 hour', 'bench-du-' || i, a, 'bench-d-' || i, 'bench-du-' || i, f, t, '{}'
FROM generate_series(%(lo)s, %(hi)s) AS i,
     (SELECT now() AT TIME ZONE 'UTC' AS n) AS now_,
     (VALUES ('register', NULL, 'awaiting_verification'),
             ('verify_email', 'awaiting_verification', 'awaiting_document'),
             ('upload_document', 'awaiting_document', 'submitted')) AS e(a, f, t);
"""


def load_history(conn, lo: int, hi: int, admin_id: str) -> float:
    start = time.perf_counter()
    sql(conn, "BEGIN")
    sql(conn, HISTORY_SQL, {"lo": lo, "hi": hi, "admin": admin_id})
    sql(conn, "COMMIT")
    analyze(conn)
    return time.perf_counter() - start

