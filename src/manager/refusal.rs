//! What a manager's 403 says about a refused user. A manager refuses a login (or an access token)
//! with 403 both when the account is disabled and when, as a slave, it has no organization of the
//! user's organization's name: only its answer tells them apart, so Portico reads the answer
//! instead of guessing. The answer is treated as hostile: a bounded number of bytes is read, it is
//! matched against a closed set of meanings, and no word of it is shown (but for an organization
//! name, bounded and cleaned, and only when Portico does not know the name itself).

use serde_json::Value;

use super::ManagerError;

/// How much of a refusal is read: far more than any manager's error object.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// How much of a message is looked at.
const MAX_MESSAGE_CHARS: usize = 512;
/// The longest organization name taken from an answer.
const MAX_ORGANIZATION_CHARS: usize = 100;

/// The error for a 403 answer to a login or to a token: what the manager's answer says.
pub(crate) async fn forbidden(response: reqwest::Response) -> ManagerError {
    classify(&read_bounded(response).await)
}

/// Up to [`MAX_ANSWER_BYTES`] of the body; a body that breaks off is read as far as it came.
async fn read_bounded(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_ANSWER_BYTES);
    body
}

/// What a refusal means, from its body: the manager's error object
/// (`{"errors":[{"code":403,"message":"…"}]}`, or the same members at the top level) or its
/// plain text. A machine-readable `reason`, when a manager gives one, wins over the message.
pub(crate) fn classify(body: &[u8]) -> ManagerError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let entry = json.as_ref().map(|v| v.get("errors").and_then(|e| e.get(0)).unwrap_or(v));
    let text = |key: &str| entry.and_then(|e| e.get(key)).and_then(Value::as_str);
    let message = match (&json, text("message")) {
        (_, Some(message)) => message.to_owned(),
        (Some(_), None) => String::new(),
        (None, None) => String::from_utf8_lossy(&body[..body.len().min(MAX_MESSAGE_CHARS * 4)]).into_owned(),
    };
    match meaning(text("reason"), &message) {
        Meaning::OrganizationMissing => {
            ManagerError::OrganizationMissing(organization_name(text("organization")))
        }
        Meaning::AccountDisabled => ManagerError::AccountDisabled,
        Meaning::Unknown => ManagerError::Forbidden,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    OrganizationMissing,
    AccountDisabled,
    Unknown,
}

fn meaning(reason: Option<&str>, message: &str) -> Meaning {
    match reason.map(str::to_ascii_lowercase).as_deref() {
        Some("organization_not_found" | "organization_missing" | "organization_unknown") => {
            return Meaning::OrganizationMissing;
        }
        Some("account_disabled" | "user_disabled") => return Meaning::AccountDisabled,
        _ => {}
    }
    let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>().to_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| message.contains(w));
    if says(&["organization", "organisation"])
        && says(&["not exist", "n't exist", "not found", "unknown", "no such"])
    {
        Meaning::OrganizationMissing
    } else if says(&["account", "user"]) && says(&["disabled", "deactivated", "not enabled", "inactive"]) {
        Meaning::AccountDisabled
    } else {
        Meaning::Unknown
    }
}

/// The organization an answer names, when it is a plausible name; empty otherwise (the caller
/// then names the organization it asked for, or none).
fn organization_name(raw: Option<&str>) -> String {
    let Some(name) = raw.map(str::trim) else { return String::new() };
    let plausible = !name.is_empty()
        && name.chars().count() <= MAX_ORGANIZATION_CHARS
        && !name.chars().any(char::is_control);
    if plausible { name.to_owned() } else { String::new() }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn error_object(message: &str) -> Vec<u8> {
        serde_json::json!({ "errors": [{ "code": 403, "message": message }] }).to_string().into_bytes()
    }

    #[test]
    fn the_managers_message_decides_what_a_403_means() {
        for message in [
            "Organization \"Acme\" does not exist on this manager",
            "organization not found",
            "Login failed: the organisation doesn't exist",
            "Unknown organization Acme",
        ] {
            assert_eq!(
                classify(&error_object(message)),
                ManagerError::OrganizationMissing(String::new()),
                "{message}"
            );
        }
        for message in ["The account is disabled", "User account deactivated", "user is not enabled"] {
            assert_eq!(classify(&error_object(message)), ManagerError::AccountDisabled, "{message}");
        }
        for message in ["Forbidden", "The token names no organization", "Organization Acme is disabled", ""] {
            assert_eq!(classify(&error_object(message)), ManagerError::Forbidden, "{message}");
        }
    }

    #[test]
    fn a_reason_wins_and_other_shapes_are_read() {
        let body = br#"{"errors":[{"code":403,"message":"Forbidden","reason":"organization_not_found","organization":"Initech"}]}"#;
        assert_eq!(classify(body), ManagerError::OrganizationMissing("Initech".to_owned()));
        assert_eq!(classify(br#"{"message":"The account is disabled"}"#), ManagerError::AccountDisabled);
        assert_eq!(classify(b"Organization not found"), ManagerError::OrganizationMissing(String::new()));
        assert_eq!(classify(b""), ManagerError::Forbidden);
        assert_eq!(classify(br#"{"errors":[{"message":42}]}"#), ManagerError::Forbidden);
    }

    #[test]
    fn an_organization_name_from_the_answer_is_bounded_and_clean() {
        assert_eq!(organization_name(Some(" Acme ")), "Acme");
        assert_eq!(organization_name(Some(&"x".repeat(101))), "");
        assert_eq!(organization_name(Some("Acme\nCall us")), "");
        assert_eq!(organization_name(None), "");
    }

    proptest! {
        #[test]
        fn any_answer_is_one_of_three_meanings_with_a_bounded_name(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            match classify(&body) {
                ManagerError::OrganizationMissing(name) => {
                    prop_assert!(name.chars().count() <= MAX_ORGANIZATION_CHARS);
                    prop_assert!(!name.chars().any(char::is_control));
                }
                ManagerError::AccountDisabled | ManagerError::Forbidden => {}
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn any_organization_member_is_shown_bounded_or_not_at_all(organization in any::<String>()) {
            let body = serde_json::json!({ "errors": [{ "reason": "organization_not_found", "organization": organization }] });
            let ManagerError::OrganizationMissing(name) = classify(body.to_string().as_bytes()) else {
                return Err(TestCaseError::fail("not an organization refusal"));
            };
            prop_assert!(name.is_empty() || organization.contains(name.as_str()));
            prop_assert!(name.chars().count() <= MAX_ORGANIZATION_CHARS);
        }
    }
}
