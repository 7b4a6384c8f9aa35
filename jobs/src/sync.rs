//! Turning one member's window of Zoom activity into entries: the work shared by backfills
//! and scheduled pulls.
//!
//! Meetings: the member's meeting report (hosted or joined) for the covering days, filtered
//! by start time; for each ended instance the participant report is fetched **once** for the
//! whole account (a leased Redis lock makes concurrent jobs wait for the first fetch) and serves
//! every active member whose window includes it; `meeting_coverage` records who it was checked
//! for. Calls: the member's own call history. Every write re-checks, in its transaction, that
//! member and account are still active (rule 7).

use std::{collections::HashSet, sync::LazyLock, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt as _;
use uuid::Uuid;

use crate::{
    billables::{self, Identity},
    store::{self, members::ActiveMember},
    tasks::JobContext,
    zoom::{AccountApi, MeetingInstance, ZoomError},
};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Zoom(#[from] ZoomError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// What one window produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub meetings_seen: usize,
    pub participant_fetches: usize,
    pub entries_written: usize,
}

/// Which meetings and calls of a window count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Backfill (rule 9): those that *started* in the window.
    Started,
    /// Scheduled pull: those that started **or ended** in the window, so a meeting longer than
    /// the overlap, whose report appears only after it ended, is still caught. Zoom is asked
    /// for one more day before the window for that reason.
    Touched,
}

impl Mode {
    fn includes(
        self,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> bool {
        billables::in_window(start, from, to)
            || (self == Self::Touched && end.is_some_and(|end| billables::in_window(end, from, to)))
    }

    /// The first day to ask Zoom for (its `from`/`to` are whole days, by start).
    fn first_day(self, from: DateTime<Utc>) -> chrono::NaiveDate {
        match self {
            Self::Started => from.date_naive(),
            Self::Touched => (from - TimeDelta::days(1)).date_naive(),
        }
    }
}

/// Lifetime of the per-meeting fetch lock unless its holder renews it (every third of it,
/// while the fetch runs). A holder that dies (kill -9, OOM) blocks the meeting for at most
/// this long; with a fixed 120 s lock, a dead holder stalled every backfill that needed the
/// meeting for two minutes.
const LOCK_LEASE: Duration = Duration::from_secs(10);
/// The longest a job waits for another job's fetch (whose lease is being renewed) before it
/// fetches the report itself; a second fetch is harmless, only wasteful.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// Extends the lock's lease if we still hold it. KEYS: lock; ARGV: token, lease ms.
static RENEW_LOCK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0",
    )
});
/// Deletes the lock if we still hold it. KEYS: lock; ARGV: token.
static RELEASE_LOCK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
    )
});

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn identity(member: &ActiveMember) -> Identity {
    Identity::new(member.zoom_user_id.clone(), member.zoom_email.as_deref())
}

/// The earliest start a member's entries may have: their backfill reaches this far back.
fn eligible_from(member: &ActiveMember, backfill_days: u32) -> DateTime<Utc> {
    member.opted_in_at - TimeDelta::days(i64::from(backfill_days))
}

/// `source` of `member` in `[from, to]`: [`meetings`] or [`calls`].
pub async fn window(
    ctx: &JobContext,
    api: &AccountApi,
    member: &ActiveMember,
    source: billables::Source,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mode: Mode,
) -> Result<Stats, SyncError> {
    match source {
        billables::Source::ZoomMeeting => meetings(ctx, api, member, from, to, mode).await,
        billables::Source::ZoomCall => calls(ctx, api, member, from, to, mode).await,
    }
}

/// Meetings of `member` in `[from, to]` (see [`Mode`]).
#[tracing::instrument(skip_all, fields(member.id = %member.id))]
pub async fn meetings(
    ctx: &JobContext,
    api: &AccountApi,
    member: &ActiveMember,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mode: Mode,
) -> Result<Stats, SyncError> {
    let mut stats = Stats::default();
    let now = Utc::now();
    let instances: Vec<MeetingInstance> = api
        .report_meetings(&member.zoom_user_id, mode.first_day(from), to.date_naive())
        .try_collect()
        .await?;
    let earliest = eligible_from(member, ctx.settings.backfill_days);
    for meeting in instances {
        if !mode.includes(meeting.start_time, meeting.end_time, from, to)
            || meeting.start_time < earliest
            || meeting.end_time.is_none_or(|end| end > now)
        {
            continue;
        }
        stats.meetings_seen += 1;
        let (fetched, written) =
            meeting_once(ctx, api, member.account_id, member.id, &meeting).await?;
        stats.participant_fetches += usize::from(fetched);
        stats.entries_written += written;
    }
    Ok(stats)
}

async fn covered(
    ctx: &JobContext,
    account_id: Uuid,
    uuid: &str,
    member_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar(
        "select 1 from meeting_coverage where account_id = $1 and meeting_uuid = $2 and member_id = $3",
    )
    .bind(account_id)
    .bind(uuid)
    .bind(member_id)
    .fetch_optional(&ctx.db)
    .await?;
    Ok(found.is_some())
}

/// Makes sure `meeting` was checked for `member_id`, fetching its participant report at most
/// once for all members. Returns (fetched here, entries written).
async fn meeting_once(
    ctx: &JobContext,
    api: &AccountApi,
    account_id: Uuid,
    member_id: Uuid,
    meeting: &MeetingInstance,
) -> Result<(bool, usize), SyncError> {
    if covered(ctx, account_id, &meeting.uuid, member_id).await? {
        return Ok((false, 0));
    }
    let lock_key = format!(
        "{}:lock:meeting:{account_id}:{}",
        ctx.settings.redis_prefix, meeting.uuid
    );
    let mut redis = ctx.redis.clone();
    let token = Uuid::new_v4().to_string();
    let mut waited = Duration::ZERO;
    loop {
        let acquired: bool = redis::cmd("SET")
            .arg(&lock_key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(millis(LOCK_LEASE))
            .query_async::<Option<String>>(&mut redis)
            .await?
            .is_some();
        if acquired {
            break;
        }
        // Someone else is fetching this report: wait for them, then look again.
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
        if covered(ctx, account_id, &meeting.uuid, member_id).await? {
            return Ok((false, 0));
        }
        if waited > LOCK_WAIT {
            break;
        }
    }
    // Whoever held the lock before us may have finished between our first look and our lock.
    let work = async {
        match covered(ctx, account_id, &meeting.uuid, member_id).await {
            Ok(true) => Ok(None),
            Ok(false) => fetch_and_write(ctx, api, account_id, meeting)
                .await
                .map(Some),
            Err(e) => Err(e.into()),
        }
    };
    tokio::pin!(work);
    let every = LOCK_LEASE / 3;
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = renew.tick() => {
                // Best effort: a lapsed lease only lets another job fetch the report too.
                let renewed: Result<i64, _> = RENEW_LOCK
                    .key(&lock_key)
                    .arg(&token)
                    .arg(millis(LOCK_LEASE))
                    .invoke_async(&mut redis)
                    .await;
                if let Err(e) = renewed {
                    tracing::debug!(error = %e, "could not renew the participant-report lock");
                }
            }
        }
    };
    // Release only our own lock.
    let _: Result<i64, _> = RELEASE_LOCK
        .key(&lock_key)
        .arg(&token)
        .invoke_async(&mut redis)
        .await;
    result.map(|written| written.map_or((false, 0), |written| (true, written)))
}

async fn fetch_and_write(
    ctx: &JobContext,
    api: &AccountApi,
    account_id: Uuid,
    meeting: &MeetingInstance,
) -> Result<usize, SyncError> {
    let records = match api
        .meeting_participants(&meeting.uuid)
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(records) => records,
        // The report is gone (too old, or the meeting was deleted): nothing to bill.
        Err(ZoomError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let now = Utc::now();
    let members = store::members::active_in_account(&ctx.db, account_id).await?;
    let mut written = 0;
    for member in members
        .iter()
        .filter(|m| meeting.start_time >= eligible_from(m, ctx.settings.backfill_days))
    {
        let entry = billables::meeting_entry(
            &identity(member),
            meeting,
            &records,
            ctx.settings.increment_minutes,
            now,
        );
        let mut tx = ctx.db.begin().await?;
        if !store::members::lock_if_active(&mut tx, member.id).await? {
            continue;
        }
        if let Some(entry) = &entry {
            written += usize::from(store::billables::upsert(&mut tx, member.id, entry).await?);
        }
        sqlx::query(
            "insert into meeting_coverage (account_id, meeting_uuid, member_id) values ($1, $2, $3) \
             on conflict do nothing",
        )
        .bind(account_id)
        .bind(&meeting.uuid)
        .bind(member.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    if written > 0 {
        metrics::counter!("billables_written_total", "source" => "zoom_meeting")
            .increment(written as u64);
    }
    Ok(written)
}

/// Connected calls of `member`'s own history in `[from, to]` (see [`Mode`]).
#[tracing::instrument(skip_all, fields(member.id = %member.id))]
pub async fn calls(
    ctx: &JobContext,
    api: &AccountApi,
    member: &ActiveMember,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mode: Mode,
) -> Result<Stats, SyncError> {
    let mut stats = Stats::default();
    let records: Vec<_> = api
        .call_history(&member.zoom_user_id, mode.first_day(from), to.date_naive())
        .try_collect()
        .await?;
    let earliest = eligible_from(member, ctx.settings.backfill_days);
    let mut seen = HashSet::new();
    let entries: Vec<_> = records
        .iter()
        .filter(|c| {
            seen.insert(c.id.clone())
                && c.start_time >= earliest
                && mode.includes(c.start_time, c.end_time, from, to)
        })
        .filter_map(|c| billables::call_entry(c, ctx.settings.increment_minutes))
        .collect();
    if entries.is_empty() {
        return Ok(stats);
    }
    let mut tx = ctx.db.begin().await?;
    if !store::members::lock_if_active(&mut tx, member.id).await? {
        return Ok(stats);
    }
    for entry in &entries {
        stats.entries_written +=
            usize::from(store::billables::upsert(&mut tx, member.id, entry).await?);
    }
    tx.commit().await?;
    if stats.entries_written > 0 {
        metrics::counter!("billables_written_total", "source" => "zoom_call")
            .increment(stats.entries_written as u64);
    }
    Ok(stats)
}
