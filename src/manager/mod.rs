//! The API Manager v1.3 protocol: the client Portico uses to talk to every manager (the
//! simulator that stands in for managers is `crate::simulator`).

mod application;
mod classify;
mod client;
mod error;
mod forward;
mod forward_path;
mod gateway;
mod model;
mod pool;
mod probe;
mod refusal;
mod session;
pub(crate) mod tls;
mod upload;

pub use client::ManagerClient;
pub use error::ManagerError;
pub use forward::{
    ForwardBody, ForwardRequest, ForwardedBody, ForwardedResponse, HOP_BY_HOP, HopByHop, hop_by_hop,
};
pub use forward_path::{ForwardPath, PathRefusal};
pub use gateway::{GatewayAnswer, GatewayCall, MAX_BODY as GATEWAY_MAX_BODY, TryRefusal, matches_template};
pub use model::{
    ApiAccess, ApiKey, AppInfo, Application, ApplicationUpdate, DiscoveredApi, MetricSeries, MetricTimeline,
    NewApplication, OAuthClient, Organization, Quota, QuotaRestriction, User,
};
pub use session::{CSRF_HEADER, ManagerCredentials, ManagerSession, SessionCredential};
