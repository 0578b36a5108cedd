//! What a portal session holds: the user, a CSRF token, the current environment, for each
//! environment either how Portico acts as the user there or why it could not be joined, and for a
//! single sign-on the provider's tokens. Stored sealed by `store::SessionStore`; never sent to the
//! browser.
//!
//! These types are written in the sealed session's binary form (`store::SessionStore`), which is
//! not self-describing: enums are externally tagged (serde's default) and no field is left out
//! when empty, so that every value reads back without knowing its shape beforehand. Tokens and
//! ids are kept as their bytes there (`crate::compact`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::JoinFailure;
use crate::domain::{EnvironmentId, SessionUser};
use crate::manager::ManagerSession;
use crate::sso::SsoTokens;
use crate::store::{Grouped, Groups};

/// How Portico acts as the user on one joined environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerAccess {
    /// The user's own manager session (password sign-in).
    Session(ManagerSession),
    /// The user's access token from the identity provider ([`SsoTokens`]).
    Bearer,
    /// The manager's service credential, scoped by Portico to the user's organization.
    Service,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentLink {
    Joined {
        manager: ManagerAccess,
        /// The id of the user's organization on that environment.
        #[serde(with = "crate::compact::text")]
        organization_id: String,
    },
    Unavailable {
        reason: JoinFailure,
    },
}

impl EnvironmentLink {
    pub fn is_joined(&self) -> bool {
        matches!(self, EnvironmentLink::Joined { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalSession {
    pub user: SessionUser,
    /// Compared (in constant time) with `csrf_token` form fields and the `X-CSRF-Token` header.
    #[serde(with = "crate::compact::text")]
    pub csrf_token: String,
    pub current: Option<EnvironmentId>,
    pub links: BTreeMap<EnvironmentId, EnvironmentLink>,
    /// A one-time message for the next page (after a redirect).
    #[serde(default)]
    pub notice: Option<Notice>,
    /// Signed in through the identity provider: its tokens.
    #[serde(default)]
    pub sso: Option<SsoTokens>,
    /// How and from where it was started, for its user's list of sessions.
    #[serde(default)]
    pub client: Option<super::ClientFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub success: bool,
    pub text: String,
}

impl PortalSession {
    pub fn link(&self, id: &EnvironmentId) -> Option<&EnvironmentLink> {
        self.links.get(id)
    }

    /// Every manager session held, for sign-out.
    pub fn manager_sessions(&self) -> impl Iterator<Item = (&EnvironmentId, &ManagerSession)> {
        self.links.iter().filter_map(|(id, link)| match link {
            EnvironmentLink::Joined { manager: ManagerAccess::Session(session), .. } => Some((id, session)),
            _ => None,
        })
    }
}

/// A portal session counts towards the environments it has joined (the dashboard's figure per
/// environment); an environment it could not join, or whose manager ended its session, it has
/// left.
impl Grouped for PortalSession {
    fn groups(&self) -> Groups {
        let (joined, not): (Vec<_>, Vec<_>) = self.links.iter().partition(|(_, link)| link.is_joined());
        let ids = |links: Vec<(&EnvironmentId, &EnvironmentLink)>| {
            links.into_iter().map(|(id, _)| id.as_str().to_owned()).collect()
        };
        Groups { member_of: ids(joined), left: ids(not) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::crypto::{Keys, hex, random_token};
    use crate::domain::Role;
    use crate::federation::{ClientFacts, SignInMethod};
    use crate::sso::ProviderSession;
    use crate::store::{ChangeBus, KvStore, MemoryStore, SESSION_PREFIX, SessionStore};

    fn uuid() -> String {
        let h = hex(&rand::random::<[u8; 16]>());
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }

    /// A manager session as the API Manager (and its simulator) hands them out.
    fn manager_session() -> ManagerSession {
        ManagerSession::new(
            &format!("APIMANAGERSESSION={}", hex(&rand::random::<[u8; 32]>())),
            Some(&hex(&rand::random::<[u8; 32]>())),
        )
    }

    fn joined(manager: ManagerAccess) -> EnvironmentLink {
        EnvironmentLink::Joined { manager, organization_id: uuid() }
    }

    fn jwt(claims: &str) -> String {
        use base64::Engine;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        format!("{}.{}.{}", b64(br#"{"alg":"ES256","typ":"JWT"}"#), b64(claims.as_bytes()), b64(&[7; 64]))
    }

    /// The master and ten slaves, each way of joining and of failing represented.
    fn session(links: usize, sso: bool) -> PortalSession {
        let mut all = BTreeMap::new();
        all.insert(EnvironmentId::master(), joined(ManagerAccess::Session(manager_session())));
        for i in 1..links {
            let link = match i {
                1 if sso => joined(ManagerAccess::Bearer),
                2 if sso => joined(ManagerAccess::Service),
                3 if sso => EnvironmentLink::Unavailable {
                    reason: JoinFailure::OrganizationMissing { organization: "Acme".to_owned() },
                },
                4 if sso => EnvironmentLink::Unavailable { reason: JoinFailure::ServerError { status: 502 } },
                5 if sso => EnvironmentLink::Unavailable { reason: JoinFailure::Timeout },
                _ => joined(ManagerAccess::Session(manager_session())),
            };
            all.insert(EnvironmentId::parse(&format!("slave-{i}")).unwrap(), link);
        }
        PortalSession {
            user: SessionUser {
                login_name: "alice".to_owned(),
                name: "Alice Example".to_owned(),
                email: Some("alice@example.com".to_owned()),
                role: Role::Oadmin,
                organization: "Acme".to_owned(),
            },
            csrf_token: random_token(32),
            current: Some(EnvironmentId::master()),
            links: all,
            notice: Some(Notice { success: true, text: "Joined slave-1".to_owned() }),
            sso: sso.then(|| SsoTokens {
                access_token: jwt(r#"{"sub":"alice","scope":"openid profile"}"#),
                refresh_token: Some(random_token(32)),
                expires_at_ms: Some(1_800_000_000_000),
                id_token: jwt(r#"{"sub":"alice","sid":"s-1","nonce":"n"}"#),
                signed_in_as: Some(ProviderSession {
                    issuer: "https://idp.example.com/realms/acme".to_owned(),
                    subject: uuid(),
                    sid: Some("s-1".to_owned()),
                }),
            }),
            client: Some(ClientFacts::describe(
                SignInMethod::Password,
                Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
                Some("203.0.113.7".parse().unwrap()),
            )),
        }
    }

    fn store() -> (SessionStore, KvStore) {
        let kv = KvStore::Memory(MemoryStore::new());
        let keys = Arc::new(Keys::derive(&SecretString::from("a-test-secret-of-enough-length-0123456789")));
        let clock: SharedClock = Arc::new(ManualClock::new());
        let (idle, absolute) = (Duration::from_secs(1800), Duration::from_secs(12 * 3600));
        let store = SessionStore::new(kv.clone(), keys, idle, absolute, clock, ChangeBus::start(&kv));
        (store, kv)
    }

    /// Everything a session holds, to compare two of them (JSON shows every field).
    fn contents(session: &PortalSession) -> serde_json::Value {
        serde_json::to_value(session).unwrap()
    }

    #[tokio::test]
    async fn a_full_session_comes_back_from_the_store_as_it_was_written() {
        let (sessions, _) = store();
        for sso in [false, true] {
            let written = sessions.create(session(11, sso)).await.unwrap();
            let read = sessions.load_fresh::<PortalSession>(&written.id).await.unwrap().unwrap();
            assert_eq!(contents(&read.data), contents(&written.data));
            assert_eq!(read.created_at, written.created_at);
            let peeked =
                sessions.peek::<PortalSession>(&sessions.reference(&written.id)).await.unwrap().unwrap();
            assert_eq!(contents(&peeked.data), contents(&written.data));
        }
    }

    #[tokio::test]
    async fn a_session_joined_to_eleven_environments_is_sealed_in_under_1280_bytes() {
        let (sessions, kv) = store();
        let written = sessions.create(session(11, false)).await.unwrap();
        let key = format!("{SESSION_PREFIX}{}", sessions.reference(&written.id));
        let stored = kv.get(&key).await.unwrap().unwrap();
        let json = serde_json::to_vec(&written.data).unwrap();
        // Nonce and tag (40 bytes) around a plaintext of about a third of the JSON's size; 1,280
        // bytes is a size class of Redis's allocator.
        assert!(stored.len() <= 1_280, "{} bytes sealed ({} bytes of JSON)", stored.len(), json.len());
        assert!(
            stored.len() * 2 < json.len(),
            "{} bytes sealed ({} bytes of JSON)",
            stored.len(),
            json.len()
        );
    }

    #[tokio::test]
    async fn nothing_of_a_token_is_readable_in_the_store() {
        let (sessions, kv) = store();
        let written = sessions.create(session(2, true)).await.unwrap();
        let key = format!("{SESSION_PREFIX}{}", sessions.reference(&written.id));
        let stored = kv.get(&key).await.unwrap().unwrap();
        let secrets =
            [written.data.csrf_token.clone(), written.data.sso.as_ref().unwrap().access_token.clone()];
        for secret in secrets {
            assert!(!stored.windows(8).any(|w| secret.as_bytes().windows(8).any(|s| s == w)));
        }
        assert!(!stored.windows(17).any(|w| w == b"APIMANAGERSESSION"));
    }
}
