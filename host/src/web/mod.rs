//! The dashboard, the JSON API (`/api/v1`), `/metrics` and remote write.
//!
//! Served by `vigil run` on `[web] listen` (127.0.0.1:8080 by default). Nothing but
//! `/healthz` (and `/metrics` when `[web.metrics] public = true`) answers without
//! credentials: pages redirect to `/login`, the API and the live feed answer 401.
//! Every change (ack, silence, plugin reload, config edit) needs the admin role and,
//! with a session, the session's CSRF token; a viewer gets 403.
//!
//! - [`auth`]: passwords, sessions, tokens, CSRF, rate limit;
//! - [`pages`]: the HTML pages; [`html`]: their frame;
//! - [`api`]: JSON; [`metrics`]: Prometheus text; [`remote_write`]: the push;
//! - [`config_edit`]: the redacted config and the edit → validate → apply path;
//! - [`live`]: the server-sent events feed.

pub mod api;
pub mod auth;
pub mod config_edit;
pub mod live;
pub mod metrics;
pub mod pages;
mod parts;
pub mod remote_write;
mod tls;

use crate::config::web::Role;
use auth::{Auth, COOKIE, LoginError, Principal};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use parts::Parts;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The first-start admin's password file, beside the store.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Where the first-start admin's password is written.
pub fn initial_password_file(cfg: &crate::config::LoadedConfig) -> std::path::PathBuf {
    cfg.store_path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join(INITIAL_PASSWORD_FILE)
}

/// Largest request body accepted (a config edit is the biggest), bytes.
const MAX_BODY: usize = 1 << 20;

/// What every handler can reach.
pub struct WebState {
    pub parts: Arc<Parts>,
    pub auth: Auth,
    /// Served over TLS: cookies get `Secure`.
    pub tls: bool,
    /// The config text the credentials were read from, to notice reloads.
    auth_source: Mutex<String>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState").field("tls", &self.tls).finish()
    }
}

pub type Shared = Arc<WebState>;

impl WebState {
    /// State for the daemon's current config; fails when an API token cannot be read.
    pub fn new(parts: Arc<Parts>) -> anyhow::Result<Shared> {
        let cfg = parts.config();
        let auth = Auth::new(&cfg.config.web, &cfg.web.token_files, cfg.web.session_ttl)?;
        if cfg.config.web.users.is_empty() {
            auth.bootstrap_admin(&initial_password_file(&cfg))?;
        }
        Ok(Arc::new(WebState {
            tls: cfg.web.tls.is_some(),
            auth,
            auth_source: Mutex::new(cfg.source.clone()),
            parts,
        }))
    }

    /// Re-read users and tokens when the config changed since they were read.
    fn refresh_auth(&self) {
        let cfg = self.parts.config();
        let mut src = self.auth_source.lock().unwrap_or_else(|e| e.into_inner());
        if *src != cfg.source {
            match self.auth.reload(&cfg.config.web, &cfg.web.token_files) {
                Ok(()) => *src = cfg.source.clone(),
                Err(e) => tracing::error!(
                    "dashboard users/tokens not reloaded, the previous ones stay: {e:#}"
                ),
            }
        }
    }
}

/// The whole router.
pub fn router(state: Shared) -> Router {
    let private = Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .route("/events", get(live::events))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_auth,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/metrics", get(metrics::handler))
        .merge(private)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// `/healthz`: liveness without credentials; says nothing about the validators.
async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

/// Headers every answer carries: no framing, no sniffing, a strict CSP, no caching of
/// pages that hold validator data.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// The session id in the cookie header.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

/// The bearer token of an `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Who is asking: a bearer token or a session.
pub fn principal(state: &WebState, headers: &HeaderMap) -> Option<Principal> {
    state.refresh_auth();
    if let Some(t) = bearer(headers) {
        return state.auth.bearer(t);
    }
    state.auth.session(&session_cookie(headers)?)
}

/// A plain-text or JSON error for machines, a page for browsers.
pub fn refuse(status: StatusCode, api: bool, text: &str) -> Response {
    if api {
        let body = serde_json::json!({ "error": text }).to_string();
        let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vigil\""),
            );
        }
        r
    } else {
        (
            status,
            Html(crate::view::html::page(
                "Refused",
                "",
                None,
                false,
                &format!(
                    "<h1>{}</h1>{}<p><a href=\"/\">Back to the overview</a></p>",
                    status.as_u16(),
                    crate::view::html::msg("err", text)
                ),
            )),
        )
            .into_response()
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path == "/events"
}

/// Authentication for everything but the public routes, then authorisation of
/// changes: admin role and, with a session, the CSRF token (header `X-CSRF-Token` or
/// form field `csrf`).
async fn require_auth(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let api = is_api(&path);
    let Some(p) = principal(&state, req.headers()) else {
        if api || bearer(req.headers()).is_some() {
            return refuse(
                StatusCode::UNAUTHORIZED,
                true,
                "credentials required: send `Authorization: Bearer <token>` (a [[web.tokens]] entry) or log in",
            );
        }
        let next_url = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        return Redirect::to(&format!("/login?next={}", urlencode(&next_url))).into_response();
    };
    let mut req = req;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if p.role != Role::Admin {
            tracing::warn!(user = %p.name, path = %path, "change refused: viewer role");
            return refuse(
                StatusCode::FORBIDDEN,
                api,
                &format!(
                    "{} has the viewer role and cannot change anything; ask an admin",
                    p.name
                ),
            );
        }
        if let Some(expected) = &p.csrf {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        api,
                        "request body larger than 1 MiB",
                    );
                }
            };
            let header_token = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let form_token = form_field(&bytes, "csrf");
            let ok = header_token
                .or(form_token)
                .is_some_and(|t| auth::same(&t, expected));
            if !ok {
                tracing::warn!(user = %p.name, path = %path, "change refused: missing or wrong CSRF token");
                return refuse(
                    StatusCode::FORBIDDEN,
                    api,
                    "missing or wrong CSRF token: reload the page and submit again",
                );
            }
            req = Request::from_parts(parts, Body::from(bytes));
        }
    }
    req.extensions_mut().insert(p);
    next.run(req).await
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(body);
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    let s = String::from_utf8_lossy(body);
    s.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((urldecode(k)?, urldecode(v)?))
        })
        .collect()
}

fn urldecode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-encode a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    error: Option<String>,
}

/// Only local paths: never redirect a login to another site.
fn safe_next(n: Option<&str>) -> String {
    match n {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

async fn login_page(State(state): State<Shared>, Query(q): Query<NextQuery>) -> Html<String> {
    state.refresh_auth();
    let mut body = String::from("<h1>Log in</h1>");
    if let Some(e) = &q.error {
        body.push_str(&crate::view::html::msg("err", e));
    }
    if !state.auth.has_configured_users() {
        body.push_str(&crate::view::html::msg(
            "info",
            "First start: log in as \"admin\" with the password in the file `initial-admin-password` beside the store. Then create your own user: `vigil web hash-password`, and a [[web.users]] entry (name, password_hash, role = \"admin\") in the config; it applies without a restart and ends the first-start login.",
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{}\"><p><label>User <input name=\"user\" autocomplete=\"username\" required></label></p><p><label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label></p><p><button type=\"submit\">Log in</button></p></form>",
        crate::view::html::esc(&safe_next(q.next.as_deref()))
    ));
    Html(crate::view::html::page("Log in", "", None, false, &body))
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    state.refresh_auth();
    let st = state.clone();
    let (user, password) = (f.user.clone(), f.password);
    // argon2 costs ~20 ms of CPU: off the async workers.
    let result =
        tokio::task::spawn_blocking(move || st.auth.login(addr.ip(), &user, &password)).await;
    let next = safe_next(f.next.as_deref());
    match result {
        Ok(Ok(id)) => {
            let secure = if state.tls { "; Secure" } else { "" };
            let ttl = state.parts.config().web.session_ttl.as_secs();
            let cookie =
                format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl}{secure}");
            let mut r = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Err(LoginError::Invalid)) => Redirect::to(&format!(
            "/login?next={}&error={}",
            urlencode(&next),
            urlencode("wrong user name or password")
        ))
        .into_response(),
        Ok(Err(LoginError::RateLimited(wait))) => refuse(
            StatusCode::TOO_MANY_REQUESTS,
            false,
            &format!(
                "too many failed logins from this address: try again in {} s",
                wait.as_secs().max(1)
            ),
        ),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            "login check failed",
        ),
    }
}

async fn logout(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Logging out is a change too: it needs the session's CSRF token.
    if let Some(id) = session_cookie(&headers)
        && let Some(p) = state.auth.session(&id)
    {
        let token = form_field(&body, "csrf");
        if !token.is_some_and(|t| p.csrf.as_deref().is_some_and(|c| auth::same(&t, c))) {
            return refuse(StatusCode::FORBIDDEN, false, "missing or wrong CSRF token");
        }
        state.auth.logout(&id);
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("vigil_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

/// Bind and serve on the daemon's runtime; prints the URL and first-login steps.
pub async fn serve(parts: Parts) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let parts = Arc::new(parts);
    let cfg = parts.config();
    let settings = cfg.web.clone();
    let state = WebState::new(parts.clone())?;
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} for the dashboard: {e} (change [web] listen, or set [web] enabled = false)",
                settings.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{addr}/");
    let users = cfg.config.web.users.len();
    eprintln!("{} {url}", crate::term::green("dashboard:"));
    if users == 0 {
        let file = initial_password_file(&cfg);
        eprintln!(
            "  first login: user \"admin\", password in {} (valid until {} has a [[web.users]] entry;\n  \
             make one with `vigil web hash-password`: it applies without a restart)",
            file.display(),
            cfg.file.display()
        );
    } else {
        eprintln!(
            "  log in with a [[web.users]] entry of {}",
            cfg.file.display()
        );
    }
    tracing::info!(url = %url, users, "dashboard listening");
    // Alert changes refresh open pages like new findings do.
    let feed_parts = parts.clone();
    tokio::spawn(async move {
        let mut rx = feed_parts.alerts().subscribe();
        while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) = rx.recv().await
        {
            feed_parts.findings().touch();
        }
    });
    if let Some(rw) = &cfg.config.web.remote_write {
        tokio::spawn(remote_write::run(parts.clone(), rw.url.clone()));
    }
    let handle = match &settings.tls {
        Some((cert, key)) => {
            let acceptor = tls::acceptor(cert, key)?;
            // `tap_io` makes the client address available as `ConnectInfo`.
            let listener =
                axum::serve::ListenerExt::tap_io(tls::TlsListener::new(listener, acceptor), |_| {});
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("dashboard stopped: {e}");
                }
            })
        }
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("dashboard stopped: {e}");
            }
        }),
    };
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_next_stays_local() {
        assert_eq!(
            form_field(b"a=1&csrf=ab%2Fc+d&x", "csrf").as_deref(),
            Some("ab/c d")
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/validators/6")), "/validators/6");
        assert_eq!(urlencode("/a b?c"), "/a%20b%3Fc");
    }
}
