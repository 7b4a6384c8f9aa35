//! Random identifiers in Zoom's shapes: account and user ids, meeting UUIDs and numbers,
//! phone call ids, OAuth codes and tokens.

use base64::Engine as _;
use chrono::NaiveDate;
use rand::Rng;

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn pick(rng: &mut impl Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// A 22-character base64url id, like Zoom's user and account ids (`KDcuGIm1QgePTO8WbOqwIQ`).
pub(crate) fn zoom_id(rng: &mut impl Rng) -> String {
    pick(rng, URL_SAFE, 22)
}

/// `len` random letters and digits (codes, page tokens).
pub(crate) fn alnum(rng: &mut impl Rng, len: usize) -> String {
    pick(rng, ALNUM, len)
}

/// An opaque bearer/refresh token that looks like Zoom's JWTs (`eyJ...`).
pub(crate) fn token(rng: &mut impl Rng) -> String {
    format!(
        "eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIn0.{}.{}",
        pick(rng, URL_SAFE, 96),
        pick(rng, URL_SAFE, 43)
    )
}

/// Which awkward shape a generated meeting UUID should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UuidShape {
    /// Whatever the random bytes give (may still contain a `/`).
    Random,
    /// Starts with `/`: must be double-encoded in a URL path.
    LeadingSlash,
    /// Contains `//`: must be double-encoded in a URL path.
    DoubleSlash,
}

/// A meeting instance UUID: 24 characters of standard base64 ending in `==`.
pub(crate) fn meeting_uuid(rng: &mut impl Rng, shape: UuidShape) -> String {
    let bytes: [u8; 16] = rng.r#gen();
    let mut chars = base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into_bytes();
    match shape {
        UuidShape::Random => {}
        UuidShape::LeadingSlash => chars[0] = b'/',
        UuidShape::DoubleSlash => {
            let at = rng.gen_range(2..19);
            chars[at] = b'/';
            chars[at + 1] = b'/';
            if chars[0] == b'/' {
                chars[0] = b'Q';
            }
        }
    }
    String::from_utf8(chars).expect("base64 output is ASCII")
}

/// A meeting number (the `id` of a meeting), 10 or 11 digits.
pub(crate) fn meeting_number(rng: &mut impl Rng) -> i64 {
    if rng.gen_bool(0.3) {
        rng.gen_range(1_000_000_000..=9_999_999_999)
    } else {
        rng.gen_range(81_000_000_000..=99_999_999_999)
    }
}

/// A phone `call_id`: a 19-digit numeric string shared by both legs of a call.
pub(crate) fn call_id(rng: &mut impl Rng) -> String {
    format!("70{:017}", rng.gen_range(0..100_000_000_000_000_000u64))
}

/// A call history record id (`20211008-48c1dfd4-91ce-4df5-8495-7c9e33d10869`).
pub(crate) fn call_record_id(rng: &mut impl Rng, day: NaiveDate) -> String {
    format!(
        "{}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        day.format("%Y%m%d"),
        rng.r#gen::<u32>(),
        rng.r#gen::<u16>(),
        rng.gen_range(0..0x1000u16),
        rng.gen_range(0x8000..0xc000u32),
        rng.gen_range(0..1u64 << 48)
    )
}

/// A North American phone number in E.164 form.
pub(crate) fn phone_number(rng: &mut impl Rng) -> String {
    format!(
        "+1{}{:03}{:04}",
        rng.gen_range(201..=989),
        rng.gen_range(200..1000),
        rng.gen_range(0..10_000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn uuid_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..100 {
            let plain = meeting_uuid(&mut rng, UuidShape::Random);
            assert_eq!(plain.len(), 24);
            assert!(plain.ends_with("=="));
            assert!(meeting_uuid(&mut rng, UuidShape::LeadingSlash).starts_with('/'));
            let double = meeting_uuid(&mut rng, UuidShape::DoubleSlash);
            assert!(double.contains("//") && !double.starts_with('/'));
        }
    }

    #[test]
    fn ids_have_zoom_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(zoom_id(&mut rng).len(), 22);
        let call = call_id(&mut rng);
        assert_eq!(call.len(), 19);
        assert!(call.chars().all(|c| c.is_ascii_digit()));
        let day = NaiveDate::from_ymd_opt(2021, 10, 8).unwrap();
        let record = call_record_id(&mut rng, day);
        assert!(record.starts_with("20211008-"));
        assert_eq!(record.len(), 45);
    }
}
