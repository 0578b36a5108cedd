//! Federation: the environments, and joining a consumer to them — sign-in with the
//! login-failure policy and login protection, reconnecting, sign-out, and the provider's
//! back-channel logout.

mod access;
mod backchannel;
mod environments;
mod health;
mod join;
mod outcome;
mod policy;
mod preference;
mod promotion;
mod protection;
mod provider_sessions;
mod runtime;
mod service;
mod session;
mod signin;
mod signout;
mod tokens;
mod usage;
mod user_sessions;

pub use access::PageAccess;
pub use backchannel::{LoggedOut, backchannel_logout};
pub use environments::{Environment, EnvironmentError, EnvironmentSet, Environments};
pub use health::{HealthMonitor, ManagerHealth, MonitorTask, PROBE_INTERVAL};
pub use join::{Credential, OrganizationCache, service_error};
pub use outcome::JoinFailure;
pub use preference::{PREFERENCE_TTL, Preferences};
pub use promotion::{ApiOutcome, Promoted, Side, promote};
pub use protection::{Locked, LoginProtection};
pub use runtime::RuntimeSettings;
pub use service::{CredentialSetupError, ServiceAuth, ServiceCredential, ServiceCredentials};
pub use session::{EnvironmentLink, ManagerAccess, Notice, PortalSession};
pub use signin::{EnvironmentFailure, Federation, SignInError, SignInRules, SignedIn};
pub use signout::sign_out;
pub use tokens::{keep_fresh, refresh_due};
pub use usage::{end_session, session_ended, start_session};
pub use user_sessions::{ClientFacts, SignInMethod, UserSession, UserSessions};
