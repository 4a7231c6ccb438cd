//! Durations as experiment files write them: a number and a unit, `"250us"`, `"1.5s"`, `"2m"`.

use std::time::Duration;

const UNITS: &[(&str, f64)] = &[
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

/// A week: longer than any wait or timeout an experiment needs, far from overflow.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Parses `"<number><unit>"`; the error text says what is allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let allowed = "a number and a unit (ns, us, ms, s, m, h), e.g. \"250us\", \"1.5s\", \"2m\"";
    let Some(scale) = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s) else {
        return Err(if unit.is_empty() {
            format!("\"{text}\" has no unit; write {allowed}")
        } else {
            format!("\"{text}\" has an unknown unit \"{unit}\"; write {allowed}")
        });
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration; write {allowed}"))?;
    if !value.is_finite() {
        return Err(format!("\"{text}\" is not a duration; write {allowed}"));
    }
    if value < 0.0 {
        return Err(format!("\"{text}\" is negative; durations are >= 0"));
    }
    let seconds = value * scale;
    if seconds > MAX_SECONDS {
        return Err(format!(
            "\"{text}\" is longer than {}, the longest duration conclab takes",
            format_duration(Duration::from_secs_f64(MAX_SECONDS))
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats a duration so that [`parse_duration`] reads it back exactly (to the nanosecond).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, per) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns >= per && ns.is_multiple_of(per) {
            return format!("{}{unit}", ns / per);
        }
    }
    if ns == 0 {
        return "0ms".into();
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_missing_units_negative_and_junk() {
        assert!(parse_duration("100").unwrap_err().contains("no unit"));
        assert!(parse_duration("-5ms").unwrap_err().contains("negative"));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn format_round_trips() {
        for text in ["250us", "200ms", "1500ms", "2m", "7ns", "1h"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
