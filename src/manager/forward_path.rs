//! The path of a routed call below the manager's base path, checked before anything is sent:
//! it cannot climb out of the base path however the manager's server reads it, and it does not
//! name one of the manager's credential endpoints.
//!
//! Servers behind managers disagree on paths: a servlet container drops `;parameters` from a
//! segment (so `..;` is a parent step there), some decode `%2F` and `%5C` into separators, some
//! decode twice. Each segment is therefore judged by every reading a server might make of it —
//! decoded up to [`MAX_DECODINGS`] times, with and without its parameters — and the path is
//! refused when any reading is a dot segment or holds a separator. The path is still sent as the
//! caller wrote it: what is refused is refused, what passes needs no rewriting.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// How deep a segment is decoded (`%252e` → `%2e` → `.`); a segment still changing after that is
/// refused.
const MAX_DECODINGS: usize = 3;

/// A path below the manager's base path, with its query, as the caller sent them
/// (percent-encoded): borrowed from the call, which is sent on as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardPath<'a> {
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
}

/// Why a path is not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// It climbs, smuggles a separator, or cannot be read.
    Malformed,
    /// It names the manager's sign-in, sign-out or password endpoints, which the portal keeps
    /// to itself (a routed call must never become a way to test a password).
    CredentialEndpoint,
}

impl<'a> ForwardPath<'a> {
    /// `path` is empty or starts with `/`.
    pub fn parse(path: &'a str, query: Option<&'a str>) -> Result<Self, PathRefusal> {
        if !(path.is_empty() || path.starts_with('/')) {
            return Err(PathRefusal::Malformed);
        }
        // Every segment is read; the first few named ones are kept for the endpoint check.
        let mut named: [Cow<'_, str>; CREDENTIAL_DEPTH] = Default::default();
        let mut count = 0;
        for segment in path.split('/').skip(1) {
            let reading = read_segment(segment)?;
            if !reading.is_empty() && count < CREDENTIAL_DEPTH {
                named[count] = reading;
                count += 1;
            }
        }
        if is_credential_endpoint(&named[..count]) {
            return Err(PathRefusal::CredentialEndpoint);
        }
        Ok(Self { path, query: query.filter(|q| !q.is_empty()) })
    }

    pub fn path(&self) -> &'a str {
        self.path
    }
}

/// The segment as a manager would match it against its routes (decoded, without parameters,
/// lowercase), or the refusal when some reading of it climbs or holds a separator.
fn read_segment(raw: &str) -> Result<Cow<'_, str>, PathRefusal> {
    // Most segments are plain words: nothing to decode, no parameters, no backslash, no control
    // character, so their one reading is themselves (and only a dot segment is refused).
    let plain = |b: &u8| b.is_ascii_graphic() && !matches!(b, b'%' | b';' | b'\\' | b'/' | b'A'..=b'Z');
    if raw.as_bytes().iter().all(plain) {
        return if raw == "." || raw == ".." { Err(PathRefusal::Malformed) } else { Ok(Cow::Borrowed(raw)) };
    }
    every_reading(raw).map(Cow::Owned)
}

/// [`read_segment`] the long way: every decoding of the segment, with and without parameters.
fn every_reading(raw: &str) -> Result<String, PathRefusal> {
    let mut current = raw.to_owned();
    for depth in 0..=MAX_DECODINGS {
        check_reading(&current, depth > 0)?;
        let decoded = percent_decode(current.as_bytes()).decode_utf8().map_err(|_| PathRefusal::Malformed)?;
        if decoded == current {
            return Ok(without_parameters(&current).to_ascii_lowercase());
        }
        current = decoded.into_owned();
    }
    Err(PathRefusal::Malformed)
}

/// One reading of a segment: no control characters, no backslash, no `/` once decoded, and
/// neither it nor its part before `;` a dot segment.
fn check_reading(reading: &str, decoded: bool) -> Result<(), PathRefusal> {
    let separator = reading.contains('\\') || (decoded && reading.contains('/'));
    let control = reading.chars().any(char::is_control);
    let dot = |s: &str| s == "." || s == "..";
    if separator || control || dot(reading) || dot(without_parameters(reading)) {
        return Err(PathRefusal::Malformed);
    }
    Ok(())
}

/// A segment without its `;parameters`, as servlet containers match it.
fn without_parameters(segment: &str) -> &str {
    segment.split(';').next().unwrap_or_default()
}

/// How many leading named segments tell a credential endpoint (the longest pattern below).
const CREDENTIAL_DEPTH: usize = 3;

/// The manager's credential endpoints (swagger v1.3): signing in or out (`/login`), changing,
/// resetting or recovering a password, and signing in to a connector. `named` are the path's
/// first named (non-empty) segments, up to [`CREDENTIAL_DEPTH`].
fn is_credential_endpoint(named: &[Cow<'_, str>]) -> bool {
    let mut words = [""; CREDENTIAL_DEPTH];
    for (word, segment) in words.iter_mut().zip(named) {
        *word = segment;
    }
    matches!(
        &words[..named.len()],
        ["login", ..]
            | ["currentuser", "changepassword", ..]
            | ["users", "forgotpassword" | "resetpassword", ..]
            | ["users", _, "changepassword" | "resetpassword", ..]
            | ["connectors", _, "login", ..]
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn refused(path: &str) -> Option<PathRefusal> {
        ForwardPath::parse(path, None).err()
    }

    #[test]
    fn ordinary_paths_pass_unchanged() {
        for ok in [
            "",
            "/",
            "/discovery/apis",
            "/a%20b/c",
            "/x/..y/.z",
            "/a/%2e%2ex",
            "/...",
            "/a/%2",
            "/%2",
            "/apis;v=1/x",
            "/users/u1",
            "/logins",
            "/applications/a1/apikeys",
        ] {
            let parsed = ForwardPath::parse(ok, None);
            assert_eq!(parsed.as_ref().map(ForwardPath::path), Ok(ok), "{ok}");
        }
        let with_query = ForwardPath::parse("/apis", Some("a=1&b=%20")).unwrap();
        assert_eq!(with_query.query, Some("a=1&b=%20"));
        assert_eq!(ForwardPath::parse("/apis", Some("")).unwrap().query, None);
    }

    #[test]
    fn climbing_and_smuggled_separators_are_refused() {
        for bad in [
            "discovery",
            "/..",
            "/a/../b",
            "/a/./b",
            "/%2e%2e/x",
            "/%2E./x",
            "/.%2E/x",
            "/a/%2e",
            "/a\\b",
            "/a\nb",
            "/..;/x",
            "/.;x/y",
            "/.%2e;/x",
            "/%2e%2e%3b/x",
            "/%2e%2e;jsessionid=1/x",
            "/a%2F..%2F..",
            "/a%2f..",
            "/%5c..%5c",
            "/a%5cb",
            "/%252e%252e/x",
            "/%25252e%25252e/x",
            "/a%00b",
            "/%c0%ae%c0%ae/x",
        ] {
            assert_eq!(refused(bad), Some(PathRefusal::Malformed), "{bad}");
        }
    }

    #[test]
    fn credential_endpoints_are_refused_however_spelled() {
        for endpoint in [
            "/login",
            "/login/",
            "//login",
            "/Login",
            "/LOGIN",
            "/login;jsessionid=x",
            "/%6cogin",
            "/%256cogin",
            "/currentuser/changepassword",
            "/currentuser/ChangePassword/",
            "/users/forgotpassword",
            "/users/resetpassword",
            "/users/u1/changepassword",
            "/users/u1/resetpassword",
            "/connectors/c1/login",
        ] {
            assert_eq!(refused(endpoint), Some(PathRefusal::CredentialEndpoint), "{endpoint}");
        }
    }

    proptest! {
        /// Whatever a caller writes, a path that passes has no reading a server could take as a
        /// parent step or a separator.
        #[test]
        fn no_passing_path_climbs(segments in prop::collection::vec("([a-z.;/\\\\]|%2[eEfF]|%5[cC]|%25|%3[bB]){0,6}", 0..5)) {
            let path = segments.iter().map(|s| format!("/{s}")).collect::<String>();
            if let Ok(parsed) = ForwardPath::parse(&path, None) {
                for segment in parsed.path().split('/').skip(1) {
                    let mut reading = segment.to_owned();
                    for _ in 0..=MAX_DECODINGS {
                        let bare = reading.split(';').next().unwrap_or_default();
                        prop_assert!(bare != "." && bare != "..", "{path}");
                        prop_assert!(!reading.contains('\\'), "{path}");
                        reading = percent_decode(reading.as_bytes()).decode_utf8_lossy().into_owned();
                        prop_assert!(!reading.contains('/'), "{path}");
                    }
                }
            }
        }

        /// The short way through a plain segment reads it as the long way does.
        #[test]
        fn plain_segments_read_as_every_reading_does(segment in "[ -~]{0,10}") {
            prop_assert_eq!(read_segment(&segment).map(Cow::into_owned), every_reading(&segment));
        }

        /// Any path of plain name segments passes, unchanged.
        #[test]
        fn plain_paths_pass(segments in prop::collection::vec("[a-zA-Z0-9_~-][a-zA-Z0-9._~-]{0,12}", 0..6)) {
            let path = segments.iter().map(|s| format!("/{s}")).collect::<String>();
            let credential = segments.first().is_some_and(|s| s.eq_ignore_ascii_case("login"));
            prop_assume!(!credential && !segments.iter().any(|s| s == "." || s == ".."));
            let parsed = ForwardPath::parse(&path, None);
            prop_assert_eq!(parsed.as_ref().map(ForwardPath::path), Ok(path.as_str()));
        }
    }
}
