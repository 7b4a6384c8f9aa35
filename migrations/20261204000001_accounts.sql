-- Zoom accounts that installed the app (one row per Zoom account, reused on reinstall),
-- the e-mail domains each serves, and the custom install links Billables staff hand out.

create table accounts (
    id                        uuid primary key default gen_random_uuid(),
    zoom_account_id           text not null unique,
    status                    text not null default 'pending'
        check (status in ('pending', 'active', 'needs_reauth', 'removed')),
    -- Regional API base from the token response (`api_url`), when Zoom sent one.
    api_url                   text,
    installed_by_zoom_user_id text,
    installed_at              timestamptz,
    removed_at                timestamptz,
    last_pull_at              timestamptz,
    last_error                text,
    created_at                timestamptz not null default now(),
    updated_at                timestamptz not null default now()
);

-- A domain belongs to at most one account: it is how a Billables user finds their company.
create table account_domains (
    account_id uuid not null references accounts (id) on delete cascade,
    domain     text not null unique check (domain = lower(domain) and domain <> ''),
    created_at timestamptz not null default now(),
    primary key (account_id, domain)
);

-- Only a SHA-256 hash of the link token is kept; the token itself lives in the URL alone.
create table install_links (
    id         uuid primary key default gen_random_uuid(),
    domain     text not null check (domain = lower(domain) and domain <> ''),
    token_hash bytea not null unique,
    expires_at timestamptz not null,
    created_by text not null,
    created_at timestamptz not null default now(),
    used_at    timestamptz,
    account_id uuid references accounts (id) on delete set null
);

-- OAuth `state` values: random, single use, short-lived, bound to the install link.
create table oauth_states (
    state_hash      bytea primary key,
    install_link_id uuid not null references install_links (id) on delete cascade,
    expires_at      timestamptz not null,
    used_at         timestamptz,
    created_at      timestamptz not null default now()
);
