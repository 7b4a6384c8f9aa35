-- OAuth tokens of an account, encrypted at rest (AES-256-GCM, nonce prepended to the
-- ciphertext). `key_id` names the TOKEN_ENCRYPTION_KEY that sealed them, so keys can rotate.
-- `generation` grows with every refresh: rotation happens in one transaction.
create table oauth_tokens (
    account_id        uuid primary key references accounts (id) on delete cascade,
    key_id            text not null,
    access_token_enc  bytea not null,
    refresh_token_enc bytea not null,
    expires_at        timestamptz not null,
    lifetime_seconds  integer not null check (lifetime_seconds > 0),
    scope             text not null default '',
    generation        bigint not null default 1,
    updated_at        timestamptz not null default now()
);
