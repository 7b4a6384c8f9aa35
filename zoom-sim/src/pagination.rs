//! Zoom's cursor pagination: an opaque `next_page_token` (`""` on the last page) that is
//! bound to the query it came from and expires 15 minutes (sim clock) after it was issued.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use crate::error::ZoomError;

/// Default `page_size` when the request has none.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 30;
/// Largest `page_size` Zoom honours; larger values are capped.
pub(crate) const MAX_PAGE_SIZE: usize = 300;
const TOKEN_TTL_MINUTES: i64 = 15;

/// Parses `page_size`: absent or 0 → 30, above 300 → 300, not a number → 400 code 300.
pub(crate) fn page_size(raw: Option<&str>) -> Result<usize, ZoomError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) => Ok(DEFAULT_PAGE_SIZE),
            Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
            Err(_) => Err(ZoomError::invalid_field("page_size")),
        },
    }
}

#[derive(Debug)]
struct Cursor {
    query: String,
    offset: usize,
    expires_at: DateTime<Utc>,
}

/// One page of results plus the fields every paginated answer carries.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
    pub page_count: usize,
    pub page_size: usize,
    pub total_records: usize,
}

/// Issued page tokens.
#[derive(Debug, Default)]
pub(crate) struct PageTokens {
    cursors: HashMap<String, Cursor>,
}

impl PageTokens {
    /// Cuts one page out of `items` (already filtered and ordered). `query` identifies the
    /// request a token belongs to; a token from another query, an unknown or an expired one
    /// → 400 code 300. Tokens stay valid until expiry, so a retried request gets the same page.
    pub(crate) fn page<T>(
        &mut self,
        items: Vec<T>,
        size: usize,
        token: Option<&str>,
        query: &str,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<Page<T>, ZoomError> {
        let offset = match token.map(str::trim) {
            None | Some("") => 0,
            Some(token) => match self.cursors.get(token) {
                Some(cursor) if cursor.query == query && now < cursor.expires_at => cursor.offset,
                _ => return Err(ZoomError::bad_page_token()),
            },
        };
        let total_records = items.len();
        let end = offset.saturating_add(size).min(total_records);
        let next_page_token = if end < total_records {
            self.issue(query, end, now, rng)
        } else {
            String::new()
        };
        let items = items.into_iter().skip(offset).take(size).collect();
        Ok(Page {
            items,
            next_page_token,
            page_count: total_records.div_ceil(size.max(1)),
            page_size: size,
            total_records,
        })
    }

    fn issue(
        &mut self,
        query: &str,
        offset: usize,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> String {
        self.cursors.retain(|_, cursor| now < cursor.expires_at);
        let token = crate::ids::alnum(rng, 35);
        self.cursors.insert(
            token.clone(),
            Cursor {
                query: query.to_owned(),
                offset,
                expires_at: now + TimeDelta::minutes(TOKEN_TTL_MINUTES),
            },
        );
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(None).unwrap(), 30);
        assert_eq!(page_size(Some("0")).unwrap(), 30);
        assert_eq!(page_size(Some("1000")).unwrap(), 300);
        assert_eq!(page_size(Some("50")).unwrap(), 50);
        assert!(page_size(Some("many")).is_err());
    }

    #[test]
    fn walks_every_item_once_and_tokens_expire() {
        let mut pages = PageTokens::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let now = Utc::now();
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = pages
                .page(items.clone(), 3, Some(&token), "q", now, &mut rng)
                .unwrap();
            assert_eq!(page.total_records, 7);
            assert_eq!(page.page_count, 3);
            seen.extend(page.items);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, items);

        let first = pages
            .page(items.clone(), 3, None, "q", now, &mut rng)
            .unwrap();
        let token = first.next_page_token;
        assert!(
            pages
                .page(items.clone(), 3, Some(&token), "other", now, &mut rng)
                .is_err()
        );
        let later = now + TimeDelta::minutes(16);
        assert!(
            pages
                .page(items, 3, Some(&token), "q", later, &mut rng)
                .is_err()
        );
    }
}
