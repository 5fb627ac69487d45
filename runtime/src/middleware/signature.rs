//! Content-security signatures (go-zero's `signature: true`, `rest.WithSignature`,
//! `handler.ContentSecurityHandler`).
//!
//! The client picks a random AES key and sends
//! `X-Content-Security: key=<fingerprint>; secret=<secret>; signature=<signature>` where
//!
//! - `fingerprint` names one of `Signature.PrivateKeys`;
//! - `secret` is base64 of the RSA (PKCS#1 v1.5, block by block) encryption, with that key's
//!   public half, of `version=v1; type=<0|1>; key=<base64 AES key>; time=<unix seconds>`;
//! - `signature` is base64 of HMAC-SHA256, keyed with the AES key, over
//!   `time \n METHOD \n path \n raw query \n hex(sha256(body as sent))`; path and query are
//!   the request's own, as the server routes it (the path percent-decoded, as Go's
//!   `URL.Path`).
//!
//! A `time` older than `Signature.Expiry` or further ahead than `Signature.MaxSkew` fails, and
//! so does a signature seen before while it is valid (replay protection, see [`crate::nonce`]).
//! With `type=1` and a non-empty body the body is base64 of AES-ECB (PKCS#5 padding) under
//! the AES key: it is decrypted before the handler sees it (undecryptable: 400) and the
//! handler's response body is encrypted the same way.
//!
//! Only `GET`, `POST`, `PUT` and `DELETE` are checked (other methods pass), as in go-zero. A
//! request that is unsigned or fails verification answers 403 with `Signature.Strict`, and is
//! logged and let through otherwise (go-zero's behaviour).
//!
//! The header is bounded ([`MAX_HEADER`]) and the secret must be one RSA block (go-zero's
//! always is): RSA decryption costs milliseconds, so a client must not choose how many are
//! done. It runs on tokio's blocking threads, at most half the cores' worth at once, so that
//! a flood of signed requests cannot starve the async workers serving everything else.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::future::Either;
use hmac::{Hmac, Mac};
use http::{Method, header};
use http_body_util::BodyExt;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::bind::read_body;
use crate::config::SignatureConf;
use crate::error::Error;
use crate::nonce::Nonces;
use crate::redis_conn::Redis;

/// The request header carrying the signature.
pub const CONTENT_SECURITY: &str = "x-content-security";
/// The largest `X-Content-Security` looked at, in bytes: room for one block of a 16384-bit
/// key, far more than go-zero clients send.
pub const MAX_HEADER: usize = 4096;
/// The Redis key prefix when `Signature.Redis.Key` is empty.
const REDIS_PREFIX: &str = "signature";

/// Why `Signature` settings cannot be used; names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// `Strict` without any key (go-zero's `ErrSignatureConfig`).
    #[error("Signature.Strict is true but Signature.PrivateKeys is empty")]
    NoKeys,
    /// A key file could not be read or parsed.
    #[error("Signature.PrivateKeys: key `{fingerprint}` (KeyFile `{file}`): {reason}")]
    Key {
        /// The key's fingerprint.
        fingerprint: String,
        /// Its `KeyFile`.
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// The `Signature.Redis` section cannot be used (the message names the key).
    #[error("Signature.{0}")]
    Redis(String),
}

/// The signature middleware: private keys by fingerprint, time window, strictness, seen
/// signatures.
#[derive(Clone)]
pub struct Signature {
    keys: Arc<HashMap<String, Arc<RsaPrivateKey>>>,
    expiry_secs: i64,
    skew_secs: i64,
    strict: bool,
    nonces: Option<Arc<Nonces>>,
    /// Permits for RSA decryptions running at once.
    rsa: Arc<Semaphore>,
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signature")
            .field("fingerprints", &self.keys.keys().collect::<Vec<_>>())
            .field("expiry_secs", &self.expiry_secs)
            .field("skew_secs", &self.skew_secs)
            .field("strict", &self.strict)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}

impl Signature {
    /// Loads the keys of `conf`. `None` when there is nothing to verify with and `Strict` is
    /// off (go-zero then skips verification); an error when `Strict` has no keys or a key
    /// file cannot be read.
    pub fn from_conf(conf: &SignatureConf) -> Result<Option<Self>, SignatureError> {
        if conf.private_keys.is_empty() {
            return if conf.strict {
                Err(SignatureError::NoKeys)
            } else {
                Ok(None)
            };
        }
        let mut keys = HashMap::new();
        for k in &conf.private_keys {
            let err = |reason: String| SignatureError::Key {
                fingerprint: k.fingerprint.clone(),
                file: k.key_file.clone(),
                reason,
            };
            let pem = std::fs::read_to_string(&k.key_file).map_err(|e| err(e.to_string()))?;
            let key = RsaPrivateKey::from_pkcs1_pem(&pem)
                .or_else(|_| RsaPrivateKey::from_pkcs8_pem(&pem))
                .map_err(|e| err(format!("not a PEM RSA private key: {e}")))?;
            keys.insert(k.fingerprint.clone(), Arc::new(key));
        }
        let nonces = if conf.replay_protection {
            let redis = if conf.redis.host.trim().is_empty() {
                None
            } else {
                let mut redis = conf.redis.clone();
                if redis.key.is_empty() {
                    redis.key = REDIS_PREFIX.into();
                }
                let client = Redis::new(&redis).map_err(SignatureError::Redis)?;
                Some((client, redis.key))
            };
            Some(Arc::new(Nonces::new(conf.replay_capacity, redis)))
        } else {
            None
        };
        let secs = |ms: u64| i64::try_from(ms / 1000).unwrap_or(i64::MAX);
        // Half the cores: the other half keeps serving whatever the RSA work is.
        let permits = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        Ok(Some(Signature {
            keys: Arc::new(keys),
            expiry_secs: secs(conf.expiry),
            skew_secs: secs(conf.max_skew),
            strict: conf.strict,
            nonces,
            rsa: Arc::new(Semaphore::new(permits)),
        }))
    }

    async fn parse(&self, value: &str) -> Result<Parsed, &'static str> {
        let attrs = parse_attrs(value);
        let (Some(fingerprint), Some(secret), Some(signature)) = (
            attrs.get("key").filter(|v| !v.is_empty()),
            attrs.get("secret").filter(|v| !v.is_empty()),
            attrs.get("signature").filter(|v| !v.is_empty()),
        ) else {
            return Err("invalid X-Content-Security header");
        };
        let key = self
            .keys
            .get(*fingerprint)
            .ok_or("unknown key fingerprint")?;
        let secret = self
            .rsa_decrypt(key.clone(), secret)
            .await
            .ok_or("invalid secret")?;
        let secret = String::from_utf8_lossy(&secret);
        let attrs = parse_attrs(&secret);
        let aes_key = B64
            .decode(attrs.get("key").copied().unwrap_or_default())
            .map_err(|_| "invalid key")?;
        let encrypted = attrs
            .get("type")
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or("invalid content type")?
            == 1;
        Ok(Parsed {
            key: aes_key,
            timestamp: attrs.get("time").copied().unwrap_or_default().to_owned(),
            encrypted,
            fingerprint: (*fingerprint).to_owned(),
            signature: (*signature).to_owned(),
        })
    }

    /// base64, then one RSA PKCS#1 v1.5 block (go-zero's `RsaDecrypter` takes several, but
    /// its secret is always one), decrypted on a blocking thread once a permit is free.
    /// Blinded, so decryption time does not depend on the key.
    async fn rsa_decrypt(&self, key: Arc<RsaPrivateKey>, b64: &str) -> Option<Vec<u8>> {
        let block = B64.decode(b64).ok().filter(|b| b.len() == key.size())?;
        let permit = self.rsa.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            key.decrypt_blinded(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, &block)
                .ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// Checks the time window and the HMAC; on success, the unix second the signature
    /// expires at.
    fn verify(
        &self,
        req: &http::request::Parts,
        p: &Parsed,
        body: &[u8],
        now: i64,
    ) -> Result<i64, &'static str> {
        let secs: i64 = p.timestamp.parse().map_err(|_| "invalid timestamp")?;
        if secs.saturating_add(self.expiry_secs) < now {
            return Err("timestamp older than Signature.Expiry");
        }
        if now.saturating_add(self.skew_secs) < secs {
            return Err("timestamp further ahead than Signature.MaxSkew");
        }
        let raw_path = req.uri.path();
        if !canonical_path(raw_path) {
            return Err("path escapes a character that routes as itself");
        }
        let path: Vec<u8> = percent_encoding::percent_decode_str(raw_path).collect();
        let expected = sign(
            &p.key,
            &p.timestamp,
            req.method.as_str(),
            &path,
            req.uri.query().unwrap_or_default(),
            body,
        );
        if constant_time_eq(expected.as_bytes(), p.signature.as_bytes()) {
            Ok(secs.saturating_add(self.expiry_secs))
        } else {
            Err("signature mismatch")
        }
    }

    async fn check<S>(self, req: Request, mut inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let header = match req.headers().get(CONTENT_SECURITY) {
            None => {
                return self
                    .refuse("missing X-Content-Security header", req, inner)
                    .await;
            }
            Some(h) if h.len() > MAX_HEADER => {
                return self
                    .refuse("X-Content-Security header too large", req, inner)
                    .await;
            }
            Some(h) => String::from_utf8_lossy(h.as_bytes()).into_owned(),
        };
        let parsed = match self.parse(&header).await {
            Ok(p) => p,
            Err(why) => return self.refuse(why, req, inner).await,
        };
        let (mut parts, body) = req.into_parts();
        let body = match read_body(body).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        };
        let now = unix_now();
        let checked = match self.verify(&parts, &parsed, &body, now) {
            Ok(until) => self.first_use(&parsed, until, now).await,
            Err(why) => Err(why),
        };
        if let Err(why) = checked {
            let req = Request::from_parts(parts, Body::from(body));
            return self.refuse(why, req, inner).await;
        }
        if !parsed.encrypted || body.is_empty() {
            let req = Request::from_parts(parts, Body::from(body));
            return call(&mut inner, req).await;
        }
        let plain = match B64
            .decode(&body)
            .ok()
            .and_then(|b| ecb_decrypt(&parsed.key, &b))
        {
            Some(p) => p,
            None => {
                return Error::BadRequest("cannot decrypt the request body".into()).into_response();
            }
        };
        parts
            .headers
            .insert(header::CONTENT_LENGTH, plain.len().into());
        let resp = call(&mut inner, Request::from_parts(parts, Body::from(plain))).await;
        encrypt_response(resp, &parsed.key).await
    }

    /// Replay protection: `Ok` the first time a verified signature is seen.
    async fn first_use(&self, p: &Parsed, until: i64, now: i64) -> Result<(), &'static str> {
        let Some(nonces) = &self.nonces else {
            return Ok(());
        };
        // The fingerprint keeps equal signatures under different keys apart.
        let nonce = format!("{}:{}", p.fingerprint, p.signature);
        if nonces.first_use(&nonce, until, now).await {
            Ok(())
        } else {
            Err("signature used before (replay)")
        }
    }

    async fn refuse<S>(&self, why: &'static str, req: Request, mut inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let header_len = req.headers().get(CONTENT_SECURITY).map(|h| h.len());
        if header_len.is_none() && !self.strict {
            tracing::debug!("unsigned request let through (Signature.Strict is off)");
        } else {
            // The header's length, not the header: it is the client's, of any size.
            tracing::error!(
                reason = why,
                header_len = ?header_len,
                strict = self.strict,
                "signature verification failed"
            );
        }
        if self.strict {
            // The reason is only logged: telling clients whether the RSA secret decrypted
            // would make the server a PKCS#1 v1.5 padding oracle.
            Error::Forbidden("signature verification failed".into()).into_response()
        } else {
            call(&mut inner, req).await
        }
    }
}

struct Parsed {
    key: Vec<u8>,
    timestamp: String,
    encrypted: bool,
    fingerprint: String,
    signature: String,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn call<S>(inner: &mut S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match inner.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// `a=1; b=2` → map (go-zero's `httpx.ParseHeader`: fields without `=` are skipped).
fn parse_attrs(value: &str) -> HashMap<&str, &str> {
    value
        .split(';')
        .filter_map(|f| f.trim().split_once('='))
        .collect()
}

/// Whether the raw path escapes only bytes Go's `URL.EscapedPath` escapes. The signature
/// covers the decoded path (as go-zero's), and the router matches the raw one: `/users/%6De`
/// decodes to `/users/me` but routes like `/users/{id}`, so escaping a byte that routes as
/// itself (letters, digits, `-._~$&+,/:;=@`) would carry one signature to another route.
fn canonical_path(raw: &str) -> bool {
    raw.split('%').skip(1).all(|rest| {
        let escaped = rest
            .get(..2)
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        !escaped.is_some_and(|c| c.is_ascii_alphanumeric() || b"-._~$&+,/:;=@".contains(&c))
    })
}

/// base64(HMAC-SHA256(key, "time\nMETHOD\npath\nquery\nhex(sha256(body))")).
pub(crate) fn sign(
    key: &[u8],
    timestamp: &str,
    method: &str,
    path: &[u8],
    query: &str,
    body: &[u8],
) -> String {
    let body_hash: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for (i, part) in [
        timestamp.as_bytes(),
        method.as_bytes(),
        path,
        query.as_bytes(),
        body_hash.as_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(part);
    }
    B64.encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum AesKey {
    A128(Box<aes::Aes128>),
    A192(Box<aes::Aes192>),
    A256(Box<aes::Aes256>),
}

impl AesKey {
    /// AES-128/192/256 by key length, as Go's `aes.NewCipher`.
    fn new(key: &[u8]) -> Option<Self> {
        Some(match key.len() {
            16 => AesKey::A128(Box::new(aes::Aes128::new_from_slice(key).ok()?)),
            24 => AesKey::A192(Box::new(aes::Aes192::new_from_slice(key).ok()?)),
            32 => AesKey::A256(Box::new(aes::Aes256::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }
    fn decrypt(&self, block: &mut [u8]) {
        let mut b = aes::Block::from(<[u8; 16]>::try_from(&*block).expect("16-byte block"));
        match self {
            AesKey::A128(c) => c.decrypt_block(&mut b),
            AesKey::A192(c) => c.decrypt_block(&mut b),
            AesKey::A256(c) => c.decrypt_block(&mut b),
        }
        block.copy_from_slice(&b);
    }
    fn encrypt(&self, block: &mut [u8]) {
        let mut b = aes::Block::from(<[u8; 16]>::try_from(&*block).expect("16-byte block"));
        match self {
            AesKey::A128(c) => c.encrypt_block(&mut b),
            AesKey::A192(c) => c.encrypt_block(&mut b),
            AesKey::A256(c) => c.encrypt_block(&mut b),
        }
        block.copy_from_slice(&b);
    }
}

/// AES-ECB with PKCS#5 padding (go-zero's `codec.EcbDecrypt`).
pub(crate) fn ecb_decrypt(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let cipher = AesKey::new(key)?;
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    let mut out = data.to_vec();
    for block in out.chunks_mut(16) {
        cipher.decrypt(block);
    }
    let pad = usize::from(*out.last()?);
    if !(1..=16).contains(&pad)
        || out[out.len() - pad..]
            .iter()
            .any(|&b| usize::from(b) != pad)
    {
        return None;
    }
    out.truncate(out.len() - pad);
    Some(out)
}

/// AES-ECB with PKCS#5 padding (go-zero's `codec.EcbEncrypt`).
pub(crate) fn ecb_encrypt(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let cipher = AesKey::new(key)?;
    let pad = 16 - data.len() % 16;
    let mut out = data.to_vec();
    out.resize(data.len() + pad, pad as u8);
    for block in out.chunks_mut(16) {
        cipher.encrypt(block);
    }
    Some(out)
}

/// The response of an encrypted request: its body becomes base64(AES-ECB(body)) (an empty
/// body stays empty), as go-zero's `cryptionResponseWriter`.
async fn encrypt_response(resp: Response, key: &[u8]) -> Response {
    let (mut parts, body) = resp.into_parts();
    let plain: Bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return Error::Internal(format!("reading the response to encrypt: {e}"))
                .into_response();
        }
    };
    if plain.is_empty() {
        return Response::from_parts(parts, Body::empty());
    }
    let Some(enc) = ecb_encrypt(key, &plain) else {
        return Error::Internal("cannot encrypt the response".into()).into_response();
    };
    let text = B64.encode(enc);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, text.len().into());
    Response::from_parts(parts, Body::from(text))
}

/// The signature layer.
#[derive(Clone, Debug)]
pub struct SignatureLayer(pub Signature);

impl<S> Layer<S> for SignatureLayer {
    type Service = SignatureService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SignatureService {
            sig: self.0.clone(),
            inner,
        }
    }
}

/// The signature service. It reads the body before calling on, so (like gunzip) it is a plain
/// tower service that clones its inner service for the requests it checks.
#[derive(Clone, Debug)]
pub struct SignatureService<S> {
    sig: Signature,
    inner: S,
}

impl<S> Service<Request> for SignatureService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<S::Future, Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let checked = matches!(
            *req.method(),
            Method::GET | Method::POST | Method::PUT | Method::DELETE
        );
        if !checked {
            return Either::Left(self.inner.call(req));
        }
        // The clone is the one that was driven to readiness (tower's usual swap).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let sig = self.sig.clone();
        Either::Right(Box::pin(async move { Ok(sig.check(req, inner).await) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PrivateKeyConf;
    use crate::middleware::test_util::run_layer;
    use rsa::RsaPublicKey;
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    use std::sync::OnceLock;

    const FINGERPRINT: &str = "k1";
    const AES_KEY: &[u8; 32] = b"q4t7w!z%C*F-JaNdRgUjXn2r5u8x/A?D";

    /// A throwaway 1024-bit key (small for test speed only) in a PKCS#1 PEM file.
    fn key() -> &'static (RsaPrivateKey, tempfile::TempPath) {
        static KEY: OnceLock<(RsaPrivateKey, tempfile::TempPath)> = OnceLock::new();
        KEY.get_or_init(|| {
            let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
            let pem = key.to_pkcs1_pem(LineEnding::LF).unwrap();
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), pem.as_bytes()).unwrap();
            (key, file.into_temp_path())
        })
    }

    fn conf(strict: bool) -> SignatureConf {
        SignatureConf {
            strict,
            expiry: 3_600_000,
            private_keys: vec![PrivateKeyConf {
                fingerprint: FINGERPRINT.into(),
                key_file: key().1.to_str().unwrap().into(),
            }],
            ..SignatureConf::default()
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// The client side, as go-zero's tests build it: optionally encrypts the body, signs
    /// `time/method/path/query/sha256(body)` with HMAC under the AES key, RSA-encrypts the
    /// AES key and the time with the server's public key.
    struct Client {
        time: i64,
        encrypt: bool,
        fingerprint: &'static str,
        /// Sign this URI instead of the request's (and send it as `X-Request-Uri`).
        request_uri: Option<&'static str>,
        /// With `encrypt`: send (and sign) the body unencrypted anyway.
        plain_body: bool,
    }

    impl Default for Client {
        fn default() -> Self {
            Client {
                time: now(),
                encrypt: false,
                fingerprint: FINGERPRINT,
                request_uri: None,
                plain_body: false,
            }
        }
    }

    impl Client {
        fn request(&self, method: &str, uri: &str, body: &[u8]) -> Request {
            let body = if self.encrypt && !self.plain_body && !body.is_empty() {
                B64.encode(ecb_encrypt(AES_KEY, body).unwrap()).into_bytes()
            } else {
                body.to_vec()
            };
            let signed: http::Uri = self.request_uri.unwrap_or(uri).parse().unwrap();
            let path: Vec<u8> = percent_encoding::percent_decode_str(signed.path()).collect();
            let ts = self.time.to_string();
            let signature = sign(
                AES_KEY,
                &ts,
                method,
                &path,
                signed.query().unwrap_or(""),
                &body,
            );
            let secret = format!(
                "version=v1; type={}; key={}; time={ts}",
                u8::from(self.encrypt),
                B64.encode(AES_KEY)
            );
            let public = RsaPublicKey::from(&key().0);
            let secret = public
                .encrypt(
                    &mut rsa::rand_core::OsRng,
                    Pkcs1v15Encrypt,
                    secret.as_bytes(),
                )
                .unwrap();
            let mut req = Request::builder().method(method).uri(uri).header(
                CONTENT_SECURITY,
                format!(
                    "key={}; secret={}; signature={signature}",
                    self.fingerprint,
                    B64.encode(secret)
                ),
            );
            if let Some(u) = self.request_uri {
                req = req.header("x-request-uri", u);
            }
            req.body(Body::from(body)).unwrap()
        }
    }

    async fn echo(req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await.unwrap();
        format!(
            "{} {} {}",
            parts.method,
            parts.uri,
            String::from_utf8_lossy(&body)
        )
        .into_response()
    }

    async fn send(strict: bool, req: Request) -> (u16, String) {
        let sig = Signature::from_conf(&conf(strict)).unwrap().unwrap();
        let (s, _, body) = run_layer(SignatureLayer(sig), echo, req).await;
        (s.as_u16(), body)
    }

    #[tokio::test]
    async fn signed_requests_pass() {
        let c = Client::default();
        let (s, body) = send(true, c.request("GET", "/a/b?c=d&e=f", b"")).await;
        assert_eq!((s, body.as_str()), (200, "GET /a/b?c=d&e=f "));
        let (s, body) = send(true, c.request("POST", "/a/b%20c?x=%20", b"hello")).await;
        assert_eq!((s, body.as_str()), (200, "POST /a/b%20c?x=%20 hello"));
        let c = Client {
            time: now() - 3000,
            ..Client::default()
        };
        let (s, _) = send(true, c.request("DELETE", "/a", b"")).await;
        assert_eq!(s, 200, "within Expiry");
    }

    #[tokio::test]
    async fn encrypted_bodies_are_decrypted_and_responses_encrypted() {
        let c = Client {
            encrypt: true,
            ..Client::default()
        };
        let (s, body) = send(true, c.request("POST", "/a?x=1", b"{\"id\":7}")).await;
        assert_eq!(s, 200, "{body}");
        let plain = ecb_decrypt(AES_KEY, &B64.decode(&body).unwrap()).unwrap();
        assert_eq!(plain, b"POST /a?x=1 {\"id\":7}");
        let (s, body) = send(true, c.request("GET", "/a", b"")).await;
        assert_eq!(
            (s, body.as_str()),
            (200, "GET /a "),
            "no body: nothing encrypted"
        );

        let c = Client {
            encrypt: true,
            plain_body: true,
            ..Client::default()
        };
        let (s, body) = send(true, c.request("POST", "/a", b"not base64 aes")).await;
        assert_eq!(s, 400, "signed but undecryptable: {body}");
    }

    #[test]
    fn ecb_round_trip_and_padding() {
        for len in [0, 1, 15, 16, 17, 100] {
            let data = vec![7u8; len];
            let enc = ecb_encrypt(&AES_KEY[..16], &data).unwrap();
            assert_eq!(enc.len(), (len / 16 + 1) * 16);
            assert_eq!(ecb_decrypt(&AES_KEY[..16], &enc).unwrap(), data);
        }
        assert!(ecb_decrypt(AES_KEY, b"short").is_none());
        assert!(ecb_encrypt(b"bad key length", b"x").is_none());
    }

    #[tokio::test]
    async fn strict_refuses_with_403() {
        let day = 24 * 3600;
        let cases: Vec<(&str, Request)> = vec![
            (
                "missing header",
                Request::get("/a").body(Body::empty()).unwrap(),
            ),
            (
                "too old",
                Client {
                    time: now() - 2 * day,
                    ..Client::default()
                }
                .request("GET", "/a", b""),
            ),
            (
                "in the future",
                Client {
                    time: now() + 2 * day,
                    ..Client::default()
                }
                .request("GET", "/a", b""),
            ),
            (
                "unknown fingerprint",
                Client {
                    fingerprint: "nope",
                    ..Client::default()
                }
                .request("GET", "/a", b""),
            ),
            ("tampered query", {
                let mut r = Client::default().request("GET", "/a?x=1", b"");
                *r.uri_mut() = "/a?x=2".parse().unwrap();
                r
            }),
            ("tampered body", {
                let r = Client::default().request("POST", "/a", b"hello");
                r.map(|_| Body::from("hellO"))
            }),
            (
                "58 minutes ahead",
                Client {
                    time: now() + 58 * 60,
                    ..Client::default()
                }
                .request("GET", "/a", b""),
            ),
            (
                "signed for the path named in X-Request-Uri",
                Client {
                    request_uri: Some("/admin/a"),
                    ..Client::default()
                }
                .request("GET", "/a", b""),
            ),
            ("a path escaping what routes as itself", {
                let mut r = Client::default().request("GET", "/users/me", b"");
                *r.uri_mut() = "/users/%6De".parse().unwrap();
                r
            }),
            ("a secret of two RSA blocks", {
                let mut r = Client::default().request("GET", "/a", b"");
                let h = r.headers()[CONTENT_SECURITY].to_str().unwrap().to_owned();
                let attrs = parse_attrs(&h);
                let block = attrs["secret"];
                let two =
                    B64.encode([B64.decode(block).unwrap(), B64.decode(block).unwrap()].concat());
                let h = h.replace(block, &two);
                r.headers_mut().insert(CONTENT_SECURITY, h.parse().unwrap());
                r
            }),
            ("garbage header", {
                let mut r = Client::default().request("GET", "/a", b"");
                r.headers_mut().insert(
                    CONTENT_SECURITY,
                    "key=k1; secret=AAAA; signature=x".parse().unwrap(),
                );
                r
            }),
        ];
        for (name, req) in cases {
            let (s, body) = send(true, req).await;
            assert_eq!(s, 403, "{name}: {body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["code"], 403, "{name}");
            assert_eq!(
                v["msg"], "signature verification failed",
                "{name}: one message"
            );
        }
    }

    #[tokio::test]
    async fn a_signature_is_accepted_once() {
        let sig = Signature::from_conf(&conf(true)).unwrap().unwrap();
        let c = Client::default();
        let req = || c.request("POST", "/a?x=1", b"pay 10");
        let (s, _, _) = run_layer(SignatureLayer(sig.clone()), echo, req()).await;
        assert_eq!(s, 200);
        let (s, _, _) = run_layer(SignatureLayer(sig.clone()), echo, req()).await;
        assert_eq!(s, 403, "replayed");
        let other = c.request("POST", "/a?x=2", b"pay 10");
        let (s, _, _) = run_layer(SignatureLayer(sig.clone()), echo, other).await;
        assert_eq!(s, 200, "another request");

        let off = SignatureConf {
            replay_protection: false,
            ..conf(true)
        };
        let sig = Signature::from_conf(&off).unwrap().unwrap();
        for _ in 0..2 {
            let (s, _, _) = run_layer(SignatureLayer(sig.clone()), echo, req()).await;
            assert_eq!(s, 200, "ReplayProtection: false");
        }
    }

    #[tokio::test]
    async fn an_oversize_header_is_refused_without_rsa_work() {
        // Valid RSA blocks, each costing the server a decryption before the bound.
        let public = RsaPublicKey::from(&key().0);
        let block = public
            .encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, b"x")
            .unwrap();
        let secret = B64.encode(block.repeat(2000));
        let huge = || {
            Request::get("/a")
                .header(
                    CONTENT_SECURITY,
                    format!("key=k1; secret={secret}; signature=x"),
                )
                .body(Body::empty())
                .unwrap()
        };
        let t = std::time::Instant::now();
        let (s, _) = send(true, huge()).await;
        assert_eq!(s, 403);
        assert!(
            t.elapsed() < std::time::Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let (s, _) = send(false, huge()).await;
        assert_eq!(s, 200, "not strict: let through, as go-zero");
    }

    #[test]
    fn canonical_paths() {
        for ok in [
            "/a/b",
            "/a%20b",
            "/%E4%B8%AD",
            "/a%3Fb",
            "/a%21",
            "/100%",
            "/%zz",
        ] {
            assert!(canonical_path(ok), "{ok}");
        }
        for bad in ["/users/%6De", "/a%2Fb", "/a%2fb", "/a%2E", "/a%3A", "/a%40"] {
            assert!(!canonical_path(bad), "{bad}");
        }
    }

    #[test]
    fn redis_config_errors_name_the_key() {
        let c = SignatureConf {
            redis: crate::rpc::RedisKeyConf {
                host: "127.0.0.1:6379".into(),
                r#type: "sentinel".into(),
                ..Default::default()
            },
            ..conf(true)
        };
        let e = Signature::from_conf(&c).unwrap_err().to_string();
        assert!(e.starts_with("Signature.Redis.Type"), "{e}");
    }

    #[tokio::test]
    async fn lenient_mode_and_unchecked_methods_let_requests_through() {
        let (s, _) = send(false, Request::get("/a").body(Body::empty()).unwrap()).await;
        assert_eq!(s, 200, "unsigned, not strict");
        let mut r = Client::default().request("GET", "/a?x=1", b"");
        *r.uri_mut() = "/a?x=2".parse().unwrap();
        let (s, _) = send(false, r).await;
        assert_eq!(
            s, 200,
            "bad signature, not strict (go-zero lets it through)"
        );
        for m in ["HEAD", "PATCH", "OPTIONS"] {
            let req = Request::builder()
                .method(m)
                .uri("/a")
                .body(Body::empty())
                .unwrap();
            let (s, _) = send(true, req).await;
            assert_eq!(s, 200, "{m} is not checked");
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let mut c = conf(true);
        c.private_keys.push(PrivateKeyConf {
            fingerprint: "missing".into(),
            key_file: "/nonexistent/key.pem".into(),
        });
        let e = Signature::from_conf(&c).unwrap_err().to_string();
        assert!(
            e.contains("`missing`") && e.contains("/nonexistent/key.pem"),
            "{e}"
        );
        let not_pem = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_pem.path(), "hello").unwrap();
        c.private_keys[1].key_file = not_pem.path().to_str().unwrap().into();
        let e = Signature::from_conf(&c).unwrap_err().to_string();
        assert!(
            e.contains("`missing`") && e.contains("not a PEM RSA private key"),
            "{e}"
        );
        let none = SignatureConf::default();
        assert!(Signature::from_conf(&none).unwrap().is_none());
        let strict = SignatureConf {
            strict: true,
            ..SignatureConf::default()
        };
        assert!(matches!(
            Signature::from_conf(&strict),
            Err(SignatureError::NoKeys)
        ));
    }
}
