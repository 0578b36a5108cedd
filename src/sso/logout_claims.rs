//! The claims of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6), checked on
//! Portico's clock once its signature has been verified: each refusal has a reason word of its
//! own. Claims are read from the JSON as it is, so a claim of the wrong type (an `exp` written
//! as a string) is a refusal, never a claim treated as absent.

use serde_json::{Map, Value};

/// The member of `events` that makes a token a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The oldest logout token accepted, by its `iat`, whatever its `exp` says (seconds): a
/// provider sends it when the user signs out, so an older one is a replay or a stuck queue.
pub const MAX_AGE_SECS: i64 = 5 * 60;
/// Clock difference tolerated between Portico and the provider (seconds), as for ID tokens.
pub const SKEW_SECS: i64 = 60;
/// The longest `sid`, `sub` or `jti` accepted: they are only hashed, but without a bound a
/// token could make Portico hash megabytes.
const MAX_IDENTIFIER_BYTES: usize = 1024;

/// What a logout token with valid claims says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedClaims {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Until when (seconds since the epoch) this token could be accepted: its `jti` must be
    /// remembered that long.
    pub acceptable_until: i64,
}

/// Checks every claim of a logout token whose signature is verified; `now` is Portico's clock
/// (seconds since the epoch). The error is the reason word.
pub fn check(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<CheckedClaims, &'static str> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err("issuer");
    }
    audience(claims, client_id)?;
    let iat = claims.get("iat").and_then(numeric_date).ok_or("issue_time")?;
    if iat > now + SKEW_SECS {
        return Err("issue_time");
    }
    if iat < now - MAX_AGE_SECS - SKEW_SECS {
        return Err("stale");
    }
    let exp = match claims.get("exp") {
        None => None,
        Some(value) => Some(numeric_date(value).ok_or("expired")?),
    };
    if exp.is_some_and(|exp| exp + SKEW_SECS <= now) {
        return Err("expired");
    }
    events(claims)?;
    // An ID token has a nonce; a logout token must not, so one cannot pass for the other.
    if claims.contains_key("nonce") {
        return Err("nonce");
    }
    let sid = identifier(claims, "sid").map_err(|()| "subject")?;
    let sub = identifier(claims, "sub").map_err(|()| "subject")?;
    if sid.is_none() && sub.is_none() {
        return Err("subject");
    }
    let jti = identifier(claims, "jti").ok().flatten().ok_or("jti")?;
    let by_age = iat + MAX_AGE_SECS + SKEW_SECS;
    let acceptable_until = exp.map_or(by_age, |exp| by_age.min(exp + SKEW_SECS));
    Ok(CheckedClaims { sid, sub, jti, acceptable_until })
}

/// `aud` names Portico's client, and no other audience: Portico trusts none but itself, as for
/// its ID tokens (OpenID Connect Core §3.1.3.7 step 3, which the logout token follows).
fn audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), &'static str> {
    let ours = |v: &Value| v.as_str() == Some(client_id);
    match claims.get("aud") {
        Some(Value::String(one)) if one == client_id => Ok(()),
        Some(Value::Array(list)) if list.len() == 1 && list.iter().all(ours) => Ok(()),
        _ => Err("audience"),
    }
}

/// `events` is an object with the back-channel logout member, whose value is an object.
fn events(claims: &Map<String, Value>) -> Result<(), &'static str> {
    let event = claims.get("events").and_then(Value::as_object).and_then(|e| e.get(LOGOUT_EVENT));
    if event.is_some_and(Value::is_object) { Ok(()) } else { Err("events") }
}

/// A NumericDate: seconds since the epoch, possibly with a fraction (cut off).
fn numeric_date(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
}

/// A string claim: `Ok(None)` when absent; `Err` when present but not a usable string.
fn identifier(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, ()> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_IDENTIFIER_BYTES => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://idp.example";

    fn valid() -> Map<String, Value> {
        let Value::Object(claims) = json!({
            "iss": ISSUER, "aud": "portico", "iat": NOW - 5, "exp": NOW + 115, "jti": "j-1",
            "sid": "s-1", "sub": "alice", "events": { LOGOUT_EVENT: {} },
        }) else {
            unreachable!()
        };
        claims
    }

    fn checked(claims: &Map<String, Value>) -> Result<CheckedClaims, &'static str> {
        check(claims, ISSUER, "portico", NOW)
    }

    /// The valid claims with `name` set to `value`, checked.
    fn set(name: &str, value: Value) -> Result<CheckedClaims, &'static str> {
        let mut claims = valid();
        claims.insert(name.to_owned(), value);
        checked(&claims)
    }

    /// The valid claims without `names`, checked.
    fn without(names: &[&str]) -> Result<CheckedClaims, &'static str> {
        let mut claims = valid();
        for name in names {
            claims.remove(*name);
        }
        checked(&claims)
    }

    #[test]
    fn a_valid_token_says_whom_it_signs_out_and_how_long_its_id_must_be_kept() {
        let ok = checked(&valid()).unwrap();
        assert_eq!(ok.sid.as_deref(), Some("s-1"));
        assert_eq!(ok.sub.as_deref(), Some("alice"));
        assert_eq!(ok.jti, "j-1");
        assert_eq!(ok.acceptable_until, NOW + 115 + SKEW_SECS, "the earlier of exp and the age limit");
        assert_eq!(without(&["exp"]).unwrap().acceptable_until, NOW - 5 + MAX_AGE_SECS + SKEW_SECS);
        assert!(without(&["sid"]).is_ok(), "sub alone");
        assert!(without(&["sub"]).is_ok(), "sid alone");
        assert!(set("aud", json!(["portico"])).is_ok());
        assert!(set("iat", json!(NOW as f64 + 0.5)).is_ok(), "a NumericDate may have a fraction");
    }

    #[test]
    fn issuer_and_audience_must_be_the_provider_and_portico_alone() {
        assert_eq!(set("iss", json!("https://other.example")), Err("issuer"));
        assert_eq!(without(&["iss"]), Err("issuer"));
        assert_eq!(set("aud", json!("another-client")), Err("audience"));
        assert_eq!(set("aud", json!(["portico", "other"])), Err("audience"));
        assert_eq!(set("aud", json!([])), Err("audience"));
        assert_eq!(without(&["aud"]), Err("audience"));
    }

    #[test]
    fn times_are_checked_on_portico_s_clock_with_a_small_skew() {
        assert_eq!(without(&["iat"]), Err("issue_time"));
        assert_eq!(set("iat", json!("1800000000")), Err("issue_time"), "a string is not skipped");
        assert_eq!(set("iat", json!(NOW + SKEW_SECS + 1)), Err("issue_time"));
        assert!(set("iat", json!(NOW + SKEW_SECS)).is_ok());
        assert_eq!(set("iat", json!(NOW - MAX_AGE_SECS - SKEW_SECS - 1)), Err("stale"));
        assert_eq!(set("exp", json!(NOW - SKEW_SECS)), Err("expired"));
        assert!(set("exp", json!(NOW - SKEW_SECS + 1)).is_ok());
        assert_eq!(set("exp", json!("never")), Err("expired"), "a string is not skipped");
        assert_eq!(set("exp", Value::Null), Err("expired"));
    }

    #[test]
    fn the_logout_event_is_required_and_a_nonce_forbidden() {
        assert_eq!(without(&["events"]), Err("events"));
        assert_eq!(set("events", json!({ LOGOUT_EVENT: "yes" })), Err("events"));
        assert_eq!(set("events", json!({ "other": {} })), Err("events"));
        assert_eq!(set("events", json!([LOGOUT_EVENT])), Err("events"));
        assert_eq!(set("nonce", json!("n")), Err("nonce"));
    }

    #[test]
    fn a_session_or_a_subject_and_a_token_id_are_required() {
        assert_eq!(without(&["sid", "sub"]), Err("subject"));
        assert_eq!(set("sid", json!(7)), Err("subject"));
        assert_eq!(set("sub", json!("")), Err("subject"));
        assert_eq!(set("sub", json!("a".repeat(2000))), Err("subject"));
        assert_eq!(without(&["jti"]), Err("jti"));
        assert_eq!(set("jti", json!(1)), Err("jti"));
    }
}
