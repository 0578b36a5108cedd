//! Durations written as strings in the config file: `"30s"`, `"15m"`, `"12h"`, `"1h 30m"`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A `std::time::Duration` read from a human string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        humantime::parse_duration(raw.trim()).map(Self).map_err(|e| {
            format!("{raw:?} is not a duration ({e}); write it like \"30s\", \"15m\" or \"12h\"")
        })
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_forms() {
        assert_eq!(Duration::parse("30s").map(Duration::get), Ok(std::time::Duration::from_secs(30)));
        assert_eq!(Duration::parse("15m").map(Duration::get), Ok(std::time::Duration::from_secs(900)));
        assert_eq!(Duration::parse("12h").map(Duration::get), Ok(std::time::Duration::from_secs(43200)));
        assert!(Duration::parse("15 minutes please").is_err());
        assert!(Duration::parse("").is_err());
    }
}
