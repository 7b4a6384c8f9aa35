-- Which opted-in members a meeting instance's participant report was already checked for.
-- One participant-report fetch serves every active member of the account; a member who opts
-- in later has no row yet, so the next backfill or pull fetches the report again for them.
-- Holds no other participant's identity: only (account, meeting instance, member).
create table meeting_coverage (
    account_id uuid not null references accounts (id) on delete cascade,
    meeting_uuid text not null,
    member_id  uuid not null references members (id) on delete cascade,
    checked_at timestamptz not null default now(),
    primary key (account_id, meeting_uuid, member_id)
);

-- Each backfill is split into windows (per source); a window is done once, even when its
-- job runs twice.
create table backfill_windows (
    backfill_id uuid not null references backfills (id) on delete cascade,
    window_no   integer not null,
    source      text not null check (source in ('zoom_meeting', 'zoom_call')),
    window_from timestamptz not null,
    window_to   timestamptz not null,
    done_at     timestamptz,
    primary key (backfill_id, window_no)
);
