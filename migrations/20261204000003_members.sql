-- The synced Zoom user directory of an account (what opt-ins are matched against), and the
-- Billables users ("members") who opted in. Nothing else about non-members is stored.

create table zoom_users (
    account_id   uuid not null references accounts (id) on delete cascade,
    zoom_user_id text not null,
    email        text not null,
    status       text not null default 'active',
    synced_at    timestamptz not null default now(),
    primary key (account_id, zoom_user_id)
);
create index zoom_users_email on zoom_users (account_id, lower(email));

create table members (
    id               uuid primary key default gen_random_uuid(),
    billables_user_id text not null unique,
    email            text not null,
    account_id       uuid references accounts (id) on delete restrict,
    zoom_user_id     text,
    status           text not null default 'waiting_for_admin'
        check (status in ('waiting_for_admin', 'active', 'opted_out', 'disabled')),
    opted_in_at      timestamptz,
    opted_out_at     timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    -- An active member is always tied to an account and a Zoom user.
    check (status <> 'active' or (account_id is not null and zoom_user_id is not null))
);
create index members_account on members (account_id, status);

-- How far each member's scheduled pulls have got, per source.
create table pull_watermarks (
    member_id  uuid not null references members (id) on delete cascade,
    source     text not null check (source in ('zoom_meeting', 'zoom_call')),
    watermark  timestamptz not null,
    updated_at timestamptz not null default now(),
    primary key (member_id, source)
);

-- Backfill runs on opt-in; at most one queued or running per member.
create table backfills (
    id          uuid primary key default gen_random_uuid(),
    member_id   uuid not null references members (id) on delete cascade,
    job_id      text,
    state       text not null default 'queued'
        check (state in ('queued', 'running', 'done', 'failed', 'cancelled')),
    window_from timestamptz not null,
    window_to   timestamptz not null,
    done        integer not null default 0 check (done >= 0),
    total       integer not null default 0 check (total >= 0),
    last_error  text,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    finished_at timestamptz,
    check (window_from <= window_to)
);
create unique index backfills_one_active on backfills (member_id) where state in ('queued', 'running');
