//! Unix seconds as `2024-05-01T12:00:03Z`, for `ls` (when an agent says a
//! device was claimed) and `doctor` (what this host's clock says).

/// `2024-05-01T12:00:03Z` from Unix seconds (the agent's clock, which may
/// be wrong: it is shown as the agent reported it). A time past year 9999,
/// which only a broken or hostile agent reports, is shown as the number.
pub fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after 1970"))
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_unix_seconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn a_time_past_year_9999_from_an_agent_is_shown_as_the_number() {
        assert_eq!(utc(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(utc(253_402_300_800), "253402300800 s after 1970");
        assert_eq!(utc(u64::MAX), format!("{} s after 1970", u64::MAX));
    }
}
