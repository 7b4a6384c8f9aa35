//! Turning one member's window of Zoom activity into entries: the work shared by backfills
//! and scheduled pulls.
//!
//! Meetings: the member's meeting report (hosted or joined) for the covering days, filtered
//! by start time; for each ended instance the participant report is fetched **once** for the
//! whole account (a Redis lock makes concurrent jobs wait for the first fetch) and serves
//! every active member whose window includes it; `meeting_coverage` records who it was checked
//! for. Calls: the member's own call history. Every write re-checks, in its transaction, that
//! member and account are still active (rule 7).

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt as _;
use redis::AsyncCommands as _;
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

/// How long a participant-report fetch may hold the per-meeting lock.
const FETCH_LOCK: Duration = Duration::from_secs(120);

fn identity(member: &ActiveMember) -> Identity {
    Identity::new(member.zoom_user_id.clone(), member.zoom_email.as_deref())
}

/// The earliest start a member's entries may have: their backfill reaches this far back.
fn eligible_from(member: &ActiveMember, backfill_days: u32) -> DateTime<Utc> {
    member.opted_in_at - TimeDelta::days(i64::from(backfill_days))
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
            .arg(u64::try_from(FETCH_LOCK.as_millis()).unwrap_or(u64::MAX))
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
        if waited > FETCH_LOCK {
            break;
        }
    }
    // Whoever held the lock before us may have finished between our first look and our lock.
    let result = match covered(ctx, account_id, &meeting.uuid, member_id).await {
        Ok(true) => Ok(None),
        Ok(false) => fetch_and_write(ctx, api, account_id, meeting)
            .await
            .map(Some),
        Err(e) => Err(e.into()),
    };
    // Release only our own lock.
    let current: Option<String> = redis.get(&lock_key).await.unwrap_or(None);
    if current.as_deref() == Some(token.as_str()) {
        let _: Result<(), _> = redis.del(&lock_key).await;
    }
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
