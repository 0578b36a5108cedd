//! The service credential part of the slave form: the `auth` kinds of the config file, with the
//! password given as a *reference* (`env:NAME`, `file:/path`, or the config file's inline table
//! such as `{ keyvault = "https://…" }`). The fields become the config file's `auth` text and are
//! read by its parser ([`AuthReference::parse`]), so a stored slave's credential means what it
//! would mean in the file. A password typed where the reference belongs is refused and not kept.

use crate::config::{AuthReference, AuthReferenceError, ManagerAuthSettings, SecretRef};
use crate::domain::CredentialId;
use crate::federation::CredentialSetupError;

use super::slave_form::SlaveForm;

/// The kinds offered, with their labels.
pub const AUTH_KINDS: [(&str, &str); 4] = [
    ("none", "None"),
    ("basic", "Basic: a username, and a password kept outside Portico"),
    ("managed_identity", "Managed identity: a bearer token of Portico's own identity"),
    ("connection", "Credential connection: a bearer token from an OAuth2 connection"),
];

const MAX_CHARS: usize = 500;

pub const NOT_A_REFERENCE: &str = "This is not a reference to a secret. Portico never keeps a password: say where it is, as env:NAME, file:/path or { keyvault = \"https://…\" }. What you typed was not kept.";

/// A message next to each credential field that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthErrors {
    pub kind: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub resource: Option<String>,
    pub client_id: Option<String>,
    pub connection: Option<String>,
}

/// Whether `raw` has the shape of a reference (what is shown again in the form); anything else
/// may be a password and is never shown again.
pub fn looks_like_reference(raw: &str) -> bool {
    let raw = raw.trim();
    raw.is_empty() || raw.starts_with("env:") || raw.starts_with("file:") || raw.starts_with('{')
}

/// The credential the fields describe (`None`: no credential), or a message per wrong field.
pub fn check_auth(form: &SlaveForm) -> Result<Option<AuthReference>, Box<AuthErrors>> {
    let mut errors = Box::<AuthErrors>::default();
    let text = match form.auth_kind.trim() {
        "" | "none" => return Ok(None),
        "basic" => {
            let username = one_line(&form.auth_username, "Enter the username Portico signs in with.")
                .map_err(|e| errors.username = Some(e));
            let password = password_reference(&form.auth_password).map_err(|e| errors.password = Some(e));
            match (username, password) {
                (Ok(u), Ok(p)) => format!("{{ basic = {{ username = {}, password = {p} }} }}", quote(&u)),
                _ => return Err(errors),
            }
        }
        "managed_identity" => {
            let resource =
                one_line(&form.auth_resource, "Enter the resource the token is for, like api://managers.")
                    .map_err(|e| errors.resource = Some(e));
            let client_id = form.auth_client_id.trim();
            if client_id.chars().count() > MAX_CHARS || client_id.chars().any(char::is_control) {
                errors.client_id = Some("Use one line of text, or leave it empty.".to_owned());
            }
            match resource {
                Ok(r) if errors.client_id.is_none() => {
                    let client =
                        (!client_id.is_empty()).then(|| format!(", client_id = {}", quote(client_id)));
                    format!(
                        "{{ managed_identity = {{ resource = {}{} }} }}",
                        quote(&r),
                        client.unwrap_or_default()
                    )
                }
                _ => return Err(errors),
            }
        }
        "connection" => match CredentialId::parse(form.auth_connection.trim()) {
            Ok(id) => format!("{{ connection = {} }}", quote(id.as_str())),
            Err(_) => {
                errors.connection = Some(
                    "Enter the id of a credential connection of the config file, like managers-eu."
                        .to_owned(),
                );
                return Err(errors);
            }
        },
        _ => {
            errors.kind = Some("Choose a kind of service credential from the list.".to_owned());
            return Err(errors);
        }
    };
    AuthReference::parse(&text).map(Some).map_err(|e| {
        errors.password = Some(match e {
            AuthReferenceError::PlainSecret => NOT_A_REFERENCE.to_owned(),
            AuthReferenceError::Invalid(why) => format!("This reference cannot be read: {why}."),
        });
        errors
    })
}

/// Puts where the credential's secret could not be read next to the field that names it.
pub fn setup_error(errors: &mut AuthErrors, error: &CredentialSetupError) {
    match error {
        CredentialSetupError::Secret { .. } => errors.password = Some(error.reason()),
        CredentialSetupError::UnknownConnection { .. } => errors.connection = Some(error.reason()),
    }
}

/// The fields of a stored credential, for the edit form.
pub fn fill(form: &mut SlaveForm, auth: Option<&AuthReference>) {
    let Some(auth) = auth else {
        form.auth_kind = "none".to_owned();
        return;
    };
    form.auth_kind = auth.kind().to_owned();
    match auth.settings() {
        ManagerAuthSettings::Basic { username, password } => {
            form.auth_username = username.clone();
            form.auth_password = match password {
                SecretRef::Env { env } => format!("env:{env}"),
                SecretRef::File { file } => format!("file:{}", file.display()),
                other => other.reference_text().unwrap_or_default(),
            };
        }
        ManagerAuthSettings::ManagedIdentity { resource, client_id } => {
            form.auth_resource = resource.clone();
            form.auth_client_id = client_id.clone().unwrap_or_default();
        }
        ManagerAuthSettings::Connection(id) => form.auth_connection = id.to_string(),
    }
}

/// `env:NAME`, `file:/path` or an inline table, as the inline table the config file would have.
fn password_reference(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(
            "Say where the password is: env:NAME, file:/path or { keyvault = \"https://…\" }.".to_owned()
        );
    }
    if let Some(name) = raw.strip_prefix("env:") {
        let name = name.trim();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.len() <= 200
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if valid {
            Ok(format!("{{ env = {} }}", quote(name)))
        } else {
            Err("After env: write the name of an environment variable, like env:PORTICO_EU_PASSWORD."
                .to_owned())
        };
    }
    if let Some(path) = raw.strip_prefix("file:") {
        let path = path.trim();
        return if path.starts_with('/') && path.len() <= 1000 && !path.chars().any(char::is_control) {
            Ok(format!("{{ file = {} }}", quote(path)))
        } else {
            Err("After file: write the absolute path of a file, like file:/run/secrets/eu-password."
                .to_owned())
        };
    }
    if raw.starts_with('{') && raw.len() <= 4000 {
        return Ok(raw.to_owned());
    }
    Err(NOT_A_REFERENCE.to_owned())
}

fn one_line(raw: &str, empty: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        Err(empty.to_owned())
    } else if value.chars().count() > MAX_CHARS || value.chars().any(char::is_control) {
        Err(format!("Use one line of at most {MAX_CHARS} characters."))
    } else {
        Ok(value.to_owned())
    }
}

fn quote(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(password: &str) -> SlaveForm {
        SlaveForm {
            auth_kind: "basic".into(),
            auth_username: "portico".into(),
            auth_password: password.into(),
            ..SlaveForm::blank()
        }
    }

    #[test]
    fn references_are_read_as_the_config_file_reads_them() {
        let env = check_auth(&basic("env:EU_PASSWORD")).unwrap().unwrap();
        assert_eq!(
            env.as_str(),
            r#"{ basic = { username = "portico", password = { env = "EU_PASSWORD" } } }"#
        );
        let file = check_auth(&basic("file:/run/secrets/eu")).unwrap().unwrap();
        assert!(file.as_str().contains(r#"{ file = "/run/secrets/eu" }"#));
        let kv = check_auth(&basic(r#"{ keyvault = "https://kv1.vault.azure.net/secrets/eu" }"#)).unwrap();
        assert_eq!(kv.unwrap().kind(), "basic");
        let mut form = SlaveForm::blank();
        fill(&mut form, Some(&env));
        assert_eq!((form.auth_kind.as_str(), form.auth_password.as_str()), ("basic", "env:EU_PASSWORD"));
        assert_eq!(check_auth(&SlaveForm::blank()), Ok(None));
    }

    #[test]
    fn passwords_and_bad_references_are_refused() {
        for typed in ["hunter2", "{ password = \"hunter2\" }", "env:not a name", "file:relative"] {
            let errors = check_auth(&basic(typed)).unwrap_err();
            let message = errors.password.unwrap();
            assert!(!message.contains("hunter2"), "{message}");
        }
        assert_eq!(check_auth(&basic("hunter2")).unwrap_err().password.as_deref(), Some(NOT_A_REFERENCE));
        assert!(!looks_like_reference("hunter2") && looks_like_reference("env:X"));
        let form =
            SlaveForm { auth_kind: "connection".into(), auth_connection: "Not An Id".into(), ..basic("") };
        assert!(check_auth(&form).unwrap_err().connection.is_some());
        let form = SlaveForm { auth_kind: "magic".into(), ..basic("") };
        assert!(check_auth(&form).unwrap_err().kind.is_some());
    }
}
