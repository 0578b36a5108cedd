//! An application's OAuth clients: `GET`, `POST /applications/{id}/oauth`,
//! `PUT /applications/{id}/oauth/{clientId}/newsecret` (204: the new secret is read back from the
//! list, as the v1.3 API answers it without a body) and `DELETE /applications/{id}/oauth/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::super::data::{SimOAuthClient, new_id, now_millis};
use super::super::faults::Operation;
use super::super::state::SimState;
use super::super::views;
use super::application::with_application;

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let (_, data) = match with_application(&req, &state, Operation::OAuthClients, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let found: Vec<Value> =
        data.oauth_clients.iter().filter(|c| c.application_id == *id).map(views::oauth_client).collect();
    HttpResponse::Ok().json(found)
}

pub(super) async fn create(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let (_, mut data) = match with_application(&req, &state, Operation::OAuthClients, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let client = SimOAuthClient {
        id: new_id(),
        application_id: id.clone(),
        secret: new_id(),
        enabled: true,
        created_on: now_millis(),
    };
    let view = views::oauth_client(&client);
    data.oauth_clients.push(client);
    HttpResponse::Created().json(view)
}

pub(super) async fn new_secret(
    req: HttpRequest,
    state: web::Data<SimState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, client_id) = path.into_inner();
    let (_, mut data) = match with_application(&req, &state, Operation::OAuthClients, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match data.oauth_clients.iter_mut().find(|c| c.application_id == id && c.id == client_id) {
        Some(client) => {
            client.secret = new_id();
            HttpResponse::NoContent().finish()
        }
        None => views::error(StatusCode::NOT_FOUND, "No such OAuth client"),
    }
}

pub(super) async fn delete(
    req: HttpRequest,
    state: web::Data<SimState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, client_id) = path.into_inner();
    let (_, mut data) = match with_application(&req, &state, Operation::OAuthClients, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let before = data.oauth_clients.len();
    data.oauth_clients.retain(|c| !(c.application_id == id && c.id == client_id));
    if data.oauth_clients.len() == before {
        return views::error(StatusCode::NOT_FOUND, "No such OAuth client");
    }
    HttpResponse::NoContent().finish()
}
