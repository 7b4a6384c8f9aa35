//! URL building for the Zoom API: percent-encoding of path segments (meeting UUIDs need
//! double encoding), joining onto a base URL without re-normalisation, and splitting a date
//! range into the at-most-one-month windows Zoom's report and phone APIs accept.

use chrono::{Days, NaiveDate};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use super::error::ZoomError;

/// Everything but RFC 3986 unreserved characters, so `/`, `+`, `=` and `%` are encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest `to - from` (in days) the report and call history endpoints accept.
pub(crate) const MAX_WINDOW_DAYS: u64 = 30;

/// Encodes one path segment (user ids and the like).
pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Encodes a meeting UUID for a path segment.
///
/// Zoom requires double encoding when the UUID starts with `/` or contains `//`; like
/// ZoomNet we double-encode whenever it contains any `/` (a safe superset: a single-encoded
/// `%2F` is decoded into a path separator by Zoom's front end). Other UUIDs are encoded
/// once, which turns `+` and `=` into `%2B` and `%3D`.
pub(crate) fn encode_meeting_uuid(uuid: &str) -> String {
    let once = encode_segment(uuid);
    if uuid.contains('/') {
        encode_segment(&once)
    } else {
        once
    }
}

/// `{base}/{path}?{query}`. `path` must already be encoded: it is appended as text and
/// parsed once, so its escapes (e.g. `%252F`) reach the wire exactly as written.
pub(crate) fn join(base: &Url, path: &str, query: &[(&str, String)]) -> Result<Url, ZoomError> {
    let raw = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    let mut url = Url::parse(&raw).map_err(ZoomError::InvalidUrl)?;
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

/// Splits `[from, to]` (inclusive days) into consecutive windows with `to - from` at most
/// `max_days`. Empty when `to < from`.
pub(crate) fn date_windows(
    from: NaiveDate,
    to: NaiveDate,
    max_days: u64,
) -> Vec<(NaiveDate, NaiveDate)> {
    let mut windows = Vec::new();
    let mut start = from;
    while start <= to {
        let end = start
            .checked_add_days(Days::new(max_days))
            .map_or(to, |e| e.min(to));
        windows.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_uuid_encoding_table() {
        let cases = [
            // Zoom's own example.
            (
                "/ajXp112QmuoKj4854875==",
                "%252FajXp112QmuoKj4854875%253D%253D",
            ),
            ("/abc==", "%252Fabc%253D%253D"),
            ("ab//c==", "ab%252F%252Fc%253D%253D"),
            ("a+b/c=", "a%252Bb%252Fc%253D"),
            ("4444AAAiAAAAAiAiAiiAii==", "4444AAAiAAAAAiAiAiiAii%3D%3D"),
            ("a+b==", "a%2Bb%3D%3D"),
            ("plain", "plain"),
        ];
        for (uuid, want) in cases {
            assert_eq!(encode_meeting_uuid(uuid), want, "{uuid}");
        }
    }

    #[test]
    fn join_keeps_escapes_verbatim() {
        let base = Url::parse("http://127.0.0.1:9100/v2").unwrap();
        let path = format!(
            "report/meetings/{}/participants",
            encode_meeting_uuid("ab//c==")
        );
        let url = join(&base, &path, &[("page_size", "300".into())]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9100/v2/report/meetings/ab%252F%252Fc%253D%253D/participants?page_size=300"
        );
        let slash = Url::parse("https://api.zoom.us/v2/").unwrap();
        let url = join(&slash, "/users/me", &[]).unwrap();
        assert_eq!(url.as_str(), "https://api.zoom.us/v2/users/me");
        let url = join(&slash, "users", &[("next_page_token", "a b+c".into())]).unwrap();
        assert_eq!(url.query(), Some("next_page_token=a+b%2Bc"));
    }

    #[test]
    fn forty_days_become_two_windows_of_at_most_a_month() {
        let from = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let to = from + Days::new(40);
        let windows = date_windows(from, to, MAX_WINDOW_DAYS);
        assert_eq!(
            windows,
            vec![
                (from, NaiveDate::from_ymd_opt(2025, 1, 31).unwrap()),
                (
                    NaiveDate::from_ymd_opt(2025, 2, 1).unwrap(),
                    NaiveDate::from_ymd_opt(2025, 2, 10).unwrap()
                ),
            ]
        );
        for (f, t) in &windows {
            assert!((*t - *f).num_days() <= 30);
        }
    }

    #[test]
    fn window_edge_cases() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 10).unwrap();
        assert_eq!(date_windows(d, d, 30), vec![(d, d)]);
        assert!(date_windows(d, d.pred_opt().unwrap(), 30).is_empty());
        let exactly = d + Days::new(30);
        assert_eq!(date_windows(d, exactly, 30), vec![(d, exactly)]);
        let longer = d + Days::new(31);
        assert_eq!(
            date_windows(d, longer, 30),
            vec![(d, exactly), (longer, longer)]
        );
        // 183 days in windows covering every day once.
        let to = d + Days::new(182);
        let windows = date_windows(d, to, 30);
        assert_eq!(windows.len(), 6);
        assert_eq!(windows.first().unwrap().0, d);
        assert_eq!(windows.last().unwrap().1, to);
        for pair in windows.windows(2) {
            assert_eq!(pair[0].1.succ_opt().unwrap(), pair[1].0);
        }
    }
}
