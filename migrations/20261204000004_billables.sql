-- Billable time entries. One per (member, source, external id): every write is an upsert.
-- Entries stay with their users after the app is removed, so members are never deleted.
create table billables (
    id                uuid primary key default gen_random_uuid(),
    member_id         uuid not null references members (id) on delete restrict,
    source            text not null check (source in ('zoom_meeting', 'zoom_call')),
    external_id       text not null check (external_id <> ''),
    title             text not null,
    started_at        timestamptz not null,
    ended_at          timestamptz not null,
    duration_seconds  integer not null check (duration_seconds > 0),
    billed_minutes    integer not null check (billed_minutes >= 0),
    participant_count integer check (participant_count >= 0),
    user_edited       boolean not null default false,
    dismissed         boolean not null default false,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint billables_unique_entry unique (member_id, source, external_id),
    check (ended_at >= started_at)
);
-- Keyset pagination, newest first.
create index billables_member_started on billables (member_id, started_at desc, id desc);
