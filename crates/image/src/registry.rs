//! A client for the OCI distribution API: manifests and blobs over HTTPS (plain HTTP only
//! for loopback hosts or hosts the user names), anonymous, basic and bearer-token auth
//! through the `WWW-Authenticate` challenge, docker `config.json` credentials, redirects
//! to blob storage, and retries with backoff on 5xx, 429 and connection errors.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use ferret_model::Digest;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;

use crate::manifest::{Descriptor, Document, PlatformSpec, media};
use crate::reference::{DOCKER_HUB, Reference};
use crate::verify::{VerifyingReader, read_verified};
use crate::{Image, ImageError, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Store, resolve as res};

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An HTTP client for registries. Clones share one connection pool, one set of root
/// certificates and one background thread, so a service that resolves many images builds
/// it once.
#[derive(Debug, Clone)]
pub struct HttpClient(Client);

impl HttpClient {
    pub fn new() -> Result<Self, ImageError> {
        Client::builder()
            .user_agent(concat!("ferret/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            // Per connect, send and read: a stalled transfer fails instead of hanging.
            .timeout(Duration::from_secs(60))
            .build()
            .map(Self)
            .map_err(|e| ImageError::Registry {
                registry: String::new(),
                message: format!("cannot build HTTP client: {e}"),
            })
    }
}

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// The client to use; a new one per image when absent.
    pub http: Option<HttpClient>,
    /// Credentials given on the command line; they win over `config.json`.
    pub credentials: Option<Credentials>,
    /// Hosts (`host[:port]`) that may be reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// The docker `config.json` to read credentials from; `None` reads none.
    pub docker_config: Option<PathBuf>,
    /// Attempts per request on transient failures.
    pub attempts: u32,
    /// The first backoff delay; it doubles on each retry.
    pub backoff: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            http: None,
            credentials: None,
            insecure_registries: Vec::new(),
            docker_config: None,
            attempts: 4,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Whether a `host[:port]` is on this machine.
pub fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A blob's bytes as they arrive, checked against its digest at the end.
pub type BlobStream = VerifyingReader<Box<dyn Read + Send>>;

/// One repository of a registry, read piece by piece by digest: what a service that relays
/// a registry's content (the hub's pull-through endpoint) needs. Auth challenges, retries
/// and redirects are handled as for image pulls; everything read is checked against its
/// digest.
#[derive(Debug)]
pub struct Repository(RepoClient);

impl Repository {
    /// `registry` is `host[:port]` as references write it.
    pub fn new(
        registry: &str,
        repository: &str,
        options: &RegistryOptions,
    ) -> Result<Self, ImageError> {
        let reference = Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: None,
            digest: None,
        };
        RepoClient::new(&reference, options).map(Self)
    }

    /// A manifest or index by digest: its bytes, verified, and its media type.
    pub fn manifest(&self, digest: &Digest) -> Result<(Vec<u8>, Option<String>), ImageError> {
        let (bytes, media_type, _) = self.0.manifest(&digest.to_string(), Some(digest))?;
        Ok((bytes, media_type))
    }

    /// A blob as a stream that fails at its end unless the bytes match `digest`, and its
    /// length when the registry says.
    pub fn blob(&self, digest: &Digest) -> Result<(BlobStream, Option<u64>), ImageError> {
        let (reader, size) = self.0.open_blob_sized(digest)?;
        let what = format!("blob {digest}");
        Ok((
            VerifyingReader::new(reader, digest.clone(), size, what),
            size,
        ))
    }
}

/// A client for one repository.
#[derive(Debug)]
pub(crate) struct RepoClient {
    http: Client,
    base: String,
    registry: String,
    repository: String,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<String>>,
    attempts: u32,
    backoff: Duration,
}

impl RepoClient {
    pub(crate) fn new(
        reference: &Reference,
        options: &RegistryOptions,
    ) -> Result<Self, ImageError> {
        let registry = reference.registry.clone();
        let plain_http =
            is_loopback(&registry) || options.insecure_registries.iter().any(|h| h == &registry);
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry.as_str()
        };
        let base = format!("{}://{host}", if plain_http { "http" } else { "https" });
        let http = match &options.http {
            Some(c) => c.0.clone(),
            None => {
                HttpClient::new()
                    .map_err(|e| match e {
                        ImageError::Registry { message, .. } => ImageError::Registry {
                            registry: registry.clone(),
                            message,
                        },
                        other => other,
                    })?
                    .0
            }
        };
        let credentials = options.credentials.clone().or_else(|| {
            options
                .docker_config
                .as_ref()
                .and_then(|p| docker_config_credentials(p, &registry))
        });
        Ok(Self {
            http,
            base,
            registry,
            repository: reference.repository.clone(),
            credentials,
            authorization: Mutex::new(None),
            attempts: options.attempts.max(1),
            backoff: options.backoff,
        })
    }

    fn err(&self, message: impl Into<String>) -> ImageError {
        ImageError::Registry {
            registry: self.registry.clone(),
            message: message.into(),
        }
    }

    /// Sends a request, answering an auth challenge once and retrying transient failures.
    fn send(
        &self,
        what: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, ImageError> {
        let mut answered_challenge = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = build(&self.http);
            if let Some(auth) = self.authorization.lock().ok().and_then(|a| a.clone()) {
                request = request.header(AUTHORIZATION, auth);
            }
            let delay = self.backoff * 2u32.saturating_pow(attempt - 1);
            match request.send() {
                Err(e) => {
                    if attempt < self.attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request())
                    {
                        tracing::debug!(registry = %self.registry, %what, error = %e, "retrying");
                        std::thread::sleep(delay);
                        continue;
                    }
                    return Err(self.err(format!("{what}: {}", error_chain(&e))));
                }
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    if answered_challenge {
                        return Err(ImageError::Unauthorized {
                            registry: self.registry.clone(),
                            message: format!("{what}: credentials were refused"),
                        });
                    }
                    let challenge = resp
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .ok_or_else(|| ImageError::Unauthorized {
                            registry: self.registry.clone(),
                            message: format!("{what}: 401 without a WWW-Authenticate challenge"),
                        })?;
                    let header = self.answer(&challenge)?;
                    if let Ok(mut a) = self.authorization.lock() {
                        *a = Some(header);
                    }
                    answered_challenge = true;
                    attempt = 0;
                }
                Ok(resp)
                    if (resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt < self.attempts =>
                {
                    tracing::debug!(registry = %self.registry, %what, status = %resp.status(), "retrying");
                    std::thread::sleep(delay);
                }
                Ok(resp) => return Ok(resp),
            }
        }
    }

    /// Turns a `WWW-Authenticate` challenge into an `Authorization` header value.
    fn answer(&self, challenge: &str) -> Result<String, ImageError> {
        let unauthorized = |message: String| ImageError::Unauthorized {
            registry: self.registry.clone(),
            message,
        };
        let (scheme, params) = parse_challenge(challenge)
            .ok_or_else(|| unauthorized(format!("cannot parse challenge {challenge:?}")))?;
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let c = self.credentials.as_ref().ok_or_else(|| {
                    unauthorized("the registry requires credentials (--username with --password-stdin, FERRET_REGISTRY_PASSWORD, or docker config.json)".to_owned())
                })?;
                Ok(basic_header(c))
            }
            "bearer" => {
                let realm = params
                    .get("realm")
                    .ok_or_else(|| unauthorized("bearer challenge without realm".to_owned()))?;
                let url = reqwest::Url::parse(realm)
                    .map_err(|e| unauthorized(format!("bad token realm {realm:?}: {e}")))?;
                let realm_host = url.host_str().unwrap_or_default().to_owned();
                if url.scheme() != "https"
                    && !(url.scheme() == "http"
                        && (is_loopback(&realm_host) || self.base.starts_with("http://")))
                {
                    return Err(unauthorized(format!(
                        "refusing token realm {realm:?}: not HTTPS"
                    )));
                }
                let scope = params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let mut query = vec![("scope", scope)];
                if let Some(service) = params.get("service") {
                    query.push(("service", service.clone()));
                }
                let mut request = self.http.get(url).query(&query);
                if let Some(c) = &self.credentials {
                    request = request.header(AUTHORIZATION, basic_header(c));
                }
                let resp = request
                    .send()
                    .map_err(|e| unauthorized(format!("token request: {}", error_chain(&e))))?;
                if !resp.status().is_success() {
                    return Err(unauthorized(format!(
                        "token request answered {}",
                        resp.status()
                    )));
                }
                #[derive(Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let body = resp
                    .bytes()
                    .map_err(|e| unauthorized(format!("token response: {e}")))?;
                let token: Token = serde_json::from_slice(&body)
                    .map_err(|e| unauthorized(format!("token response is not JSON: {e}")))?;
                let token = token
                    .token
                    .or(token.access_token)
                    .ok_or_else(|| unauthorized("token response without a token".to_owned()))?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(unauthorized(format!("unsupported auth scheme {other:?}"))),
        }
    }

    /// Fetches a manifest or index by tag or digest: its bytes, declared media type and
    /// verified digest.
    fn manifest(
        &self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, Option<String>, Digest), ImageError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let what = format!("manifest {}:{reference}", self.repository);
        let resp = self.send(&what, |c| {
            c.get(&url).header(ACCEPT, media::MANIFEST_ACCEPT)
        })?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound {
                what: format!("manifest {}:{reference}", self.repository),
                location: self.registry.clone(),
            });
        }
        if !status.is_success() {
            return Err(self.err(format!("{what}: HTTP {status}")));
        }
        let headers = resp.headers().clone();
        let content_type = header(&headers, CONTENT_TYPE.as_str());
        let header_digest = header(&headers, "docker-content-digest")
            .map(|d| d.parse::<Digest>())
            .transpose()
            .map_err(|e| self.err(format!("{what}: bad Docker-Content-Digest: {e}")))?;
        let expected = expected.cloned().or(header_digest);
        let bytes = match &expected {
            Some(d) => read_verified(resp, d, MAX_MANIFEST_BYTES, &what)?,
            None => {
                let mut buf = Vec::new();
                resp.take(MAX_MANIFEST_BYTES + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| ImageError::read(&what, e))?;
                if buf.len() as u64 > MAX_MANIFEST_BYTES {
                    return Err(ImageError::TooLarge {
                        what,
                        limit: MAX_MANIFEST_BYTES,
                    });
                }
                buf
            }
        };
        let digest = expected.unwrap_or_else(|| Digest::sha256_of(&bytes));
        Ok((bytes, content_type, digest))
    }

    /// Opens a blob stream (following redirects to blob storage); the caller verifies it.
    pub(crate) fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, ImageError> {
        self.open_blob_sized(digest).map(|(r, _)| r)
    }

    /// Opens a blob stream and says its length when the registry does.
    fn open_blob_sized(
        &self,
        digest: &Digest,
    ) -> Result<(Box<dyn Read + Send>, Option<u64>), ImageError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let what = format!("blob {digest}");
        let resp = self.send(&what, |c| c.get(&url))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ImageError::MissingBlob {
                digest: digest.clone(),
                location: format!("{}/{}", self.registry, self.repository),
            });
        }
        if !status.is_success() {
            return Err(self.err(format!("{what}: HTTP {status}")));
        }
        let size = resp.content_length();
        Ok((Box::new(resp), size))
    }

    fn blob_bytes(&self, d: &Descriptor, limit: u64) -> Result<Vec<u8>, ImageError> {
        let reader = self.open_blob(&d.digest)?;
        read_verified(reader, &d.digest, limit, &format!("blob {}", d.digest))
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn basic_header(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = inner.source();
    }
    s
}

/// Parses `Scheme k="v", k2=v2`.
fn parse_challenge(input: &str) -> Option<(String, BTreeMap<String, String>)> {
    let input = input.trim();
    let (scheme, rest) = input.split_once(' ').unwrap_or((input, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    (!scheme.is_empty()).then(|| (scheme.to_owned(), params))
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Credentials for `registry` from a docker `config.json`, if it has any.
pub fn docker_config_credentials(path: &std::path::Path, registry: &str) -> Option<Credentials> {
    let bytes = std::fs::read(path).ok()?;
    let config: DockerConfig = serde_json::from_slice(&bytes)
        .inspect_err(|e| tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable docker config"))
        .ok()?;
    let hub = registry == DOCKER_HUB;
    let entry = config.auths.iter().find_map(|(key, auth)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        let same = host == registry
            || (hub
                && matches!(
                    host,
                    "index.docker.io" | "registry-1.docker.io" | "docker.io"
                ));
        same.then_some(auth)
    })?;
    if let Some(encoded) = &entry.auth {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        return Some(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    Some(Credentials {
        username: entry.username.clone()?,
        password: entry.password.clone()?,
    })
}

pub(crate) fn resolve(
    reference: &Reference,
    platform: &PlatformSpec,
    options: &RegistryOptions,
) -> Result<Image, ImageError> {
    let client = RepoClient::new(reference, options)?;
    let (bytes, content_type, digest) =
        client.manifest(&reference.manifest_ref(), reference.digest.as_ref())?;
    let declared = content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or(c).trim());
    let doc = Document::parse(&bytes, declared, &format!("manifest of {reference}"))?;
    let mut fetch = |d: &Descriptor| {
        let (bytes, _, _) = client.manifest(&d.digest.to_string(), Some(&d.digest))?;
        Ok(bytes)
    };
    let chosen = res::choose(doc, digest, platform, &mut fetch)?;
    let config_bytes = client.blob_bytes(&chosen.manifest.config, MAX_CONFIG_BYTES)?;
    let config = res::parse_config(&config_bytes, &chosen.manifest.config.digest)?;
    let (layers, notes) = res::layers(&chosen.manifest, &config)?;
    Ok(Image {
        name: reference.to_string(),
        manifest_digest: chosen.manifest_digest,
        index_digest: chosen.index_digest,
        config_digest: chosen.manifest.config.digest.clone(),
        config,
        layers,
        tags: reference
            .tag
            .iter()
            .map(|t| format!("{}/{}:{t}", reference.registry, reference.repository))
            .collect(),
        notes,
        store: Store::Registry(client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com:5000"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[test]
    fn docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5000":{"username":"a","password":"b"}}}"#,
        )
        .unwrap();
        let hub = docker_config_credentials(&path, "docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));
        let local = docker_config_credentials(&path, "127.0.0.1:5000").unwrap();
        assert_eq!(local.username, "a");
        assert!(docker_config_credentials(&path, "other.example").is_none());
        assert!(!format!("{hub:?}").contains('p') || format!("{hub:?}").contains("redacted"));
    }
}
