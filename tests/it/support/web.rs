//! Helpers for dashboard tests: an in-process daemon + web server on a free port, an
//! HTTP client that keeps a session cookie and never follows redirects.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use vigil::daemon::Daemon;

pub(crate) const ADMIN_PASSWORD: &str = "admin-password-1";
pub(crate) const VIEWER_PASSWORD: &str = "viewer-password-1";

/// A free port on 127.0.0.1 (bound then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `[web]` with an admin "ann", a viewer "vic", and tokens from env vars.
pub(crate) fn web_section(port: u16, admin_token_env: &str, viewer_token_env: &str) -> String {
    let admin = vigil::web::auth::hash_password(ADMIN_PASSWORD).unwrap();
    let viewer = vigil::web::auth::hash_password(VIEWER_PASSWORD).unwrap();
    format!(
        "[web]\nlisten = \"127.0.0.1:{port}\"\nlogin_attempts_per_minute = 5\n\
         [[web.users]]\nname = \"ann\"\npassword_hash = \"{admin}\"\nrole = \"admin\"\n\
         [[web.users]]\nname = \"vic\"\npassword_hash = \"{viewer}\"\nrole = \"viewer\"\n\
         [[web.tokens]]\nname = \"ops\"\nrole = \"admin\"\nenv = \"{admin_token_env}\"\n\
         [[web.tokens]]\nname = \"look\"\nrole = \"viewer\"\nenv = \"{viewer_token_env}\"\n"
    )
}

/// A daemon (no collection loop) with its web server, in this process.
pub(crate) struct Server {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) daemon: Arc<Daemon>,
    pub(crate) url: String,
}

impl Server {
    /// Start on `config` (a full vigil.toml text; `{port}` is replaced).
    pub(crate) async fn start(config: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let text = config.replace("{port}", &port.to_string());
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let file = dir.path().join("vigil.toml");
        std::fs::write(&file, &text).unwrap();
        let cfg = vigil::config::load(&file).unwrap();
        let daemon = Daemon::start(cfg).unwrap();
        let state = vigil::web::WebState::new(std::sync::Arc::new(daemon.web_parts())).unwrap();
        let app = vigil::web::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            dir,
            daemon,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// An HTTP client with an optional session.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookie: Option<String>,
    pub(crate) csrf: Option<String>,
    pub(crate) bearer: Option<String>,
}

/// `value="..."` of the first hidden csrf field in a page.
pub(crate) fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_string())
}

/// An `application/x-www-form-urlencoded` body.
pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", vigil::web::urlencode(k), vigil::web::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Extension: a form body on a request.
pub(crate) trait FormExt {
    fn form_fields(self, fields: &[(&str, &str)]) -> Self;
}

impl FormExt for reqwest::RequestBuilder {
    fn form_fields(self, fields: &[(&str, &str)]) -> Self {
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(fields))
    }
}

impl Client {
    pub(crate) fn new(base: &str) -> Client {
        vigil::net::install_tls_provider();
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    pub(crate) fn with_token(base: &str, token: &str) -> Client {
        let mut c = Client::new(base);
        c.bearer = Some(token.to_string());
        c
    }

    pub(crate) fn req(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut r = self.http.request(m, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", format!("vigil_session={c}"));
        }
        if let Some(t) = &self.bearer {
            r = r.bearer_auth(t);
        }
        r
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let r = self.req("get", path).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Log in; on success keeps the cookie and the CSRF token.
    pub(crate) async fn login(&mut self, user: &str, password: &str) -> u16 {
        let r = self
            .req("post", "/login")
            .form_fields(&[("user", user), ("password", password), ("next", "/")])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if let Some(c) = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .filter(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict"))
            .and_then(|c| c.split(';').next())
            .and_then(|kv| kv.strip_prefix("vigil_session="))
            .filter(|v| !v.is_empty())
        {
            self.cookie = Some(c.to_string());
            let (_, page) = self.get("/plugins").await;
            self.csrf = csrf_in(&page);
        }
        status
    }

    /// POST a form with the session's CSRF token (when `with_csrf`).
    pub(crate) async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        with_csrf: bool,
    ) -> (u16, String) {
        let mut f: Vec<(&str, &str)> = fields.to_vec();
        if with_csrf && let Some(t) = &self.csrf {
            f.push(("csrf", t));
        }
        let r = self.req("post", path).form_fields(&f).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}
