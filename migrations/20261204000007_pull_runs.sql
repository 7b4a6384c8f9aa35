-- One row per scheduled or manual pull of an account: when, for which tick, and how it went.
-- Operators read the last pull and its outcome from here; tests count runs per tick.
create table pull_runs (
    id          bigserial primary key,
    account_id  uuid not null references accounts (id) on delete cascade,
    -- The scheduler tick (unix seconds) that asked for it; null for "pull now".
    tick        bigint,
    job_id      text,
    status      text not null default 'running'
        check (status in ('running', 'done', 'failed', 'skipped_running', 'skipped_inactive')),
    members     integer not null default 0,
    entries_written integer not null default 0,
    error       text,
    started_at  timestamptz not null default now(),
    finished_at timestamptz
);
create index pull_runs_account on pull_runs (account_id, started_at desc);
