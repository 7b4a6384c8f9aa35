-- Who did what: install, opt-in/out, removal and operator actions. Never secrets.
create table audit_log (
    id         bigserial primary key,
    at         timestamptz not null default now(),
    actor      text not null,
    action     text not null,
    account_id uuid references accounts (id) on delete set null,
    member_id  uuid references members (id) on delete set null,
    details    jsonb not null default '{}'::jsonb
);
create index audit_log_account on audit_log (account_id, at desc);
