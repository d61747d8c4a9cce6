//! TLS to PostgreSQL with libpq's meaning of `sslmode` and `sslrootcert`, on rustls (no OpenSSL).
//! disable sends no TLS; prefer (the default) asks for it and goes on in plaintext only when the
//! server answers that it has none; require and the verify modes insist on it. The certificate is
//! checked only when asked: its chain against the root certificates for verify-ca and
//! verify-full, and, as libpq does, for prefer and require when a root certificate is given; its
//! host name too for verify-full. verify-ca and verify-full without a root certificate trust the
//! system's store (libpq's `sslrootcert=system`).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{PgSslMode, PoolConfig};
use crate::error::{Error, Result};

/// How errors name the root certificate option, which may have come from either.
const ROOT_CERT_OPTION: &str = "pgSslRootCert/POOL_PG_SSL_ROOT_CERT";

/// `sslrootcert=system`: the system's store, as libpq 16 spells it.
const SYSTEM: &str = "system";

/// The URL's TLS parameters, taken out before tokio-postgres parses it: its parser knows only
/// disable, prefer and require, and no `sslrootcert`.
#[derive(Debug, Default, PartialEq)]
pub struct UrlTls {
    pub mode: Option<String>,
    pub root_cert: Option<String>,
}

/// `url` without its `sslmode` and `sslrootcert` parameters, and their values (percent-decoded).
pub fn split_url(url: &str) -> Result<(String, UrlTls)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), UrlTls::default()));
    };
    let mut tls = UrlTls::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decoded(key)?.as_str() {
            "sslmode" => tls.mode = Some(decoded(value)?),
            "sslrootcert" => tls.root_cert = Some(decoded(value)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, tls))
}

/// A URL parameter's text with its `%XX` escapes undone.
fn decoded(text: &str) -> Result<String> {
    let bad = || Error::config("POOL_DB_URL", format!("{text:?} is not a well-formed URL parameter"));
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, after)) = rest.split_first() {
        if b == b'%' {
            let hex = after
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .ok_or_else(bad)?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = &after[2..];
        } else {
            bytes.push(b);
            rest = after;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// What a link negotiates and the connector that does it.
#[derive(Clone)]
pub struct Tls {
    mode: PgSslMode,
    connector: MakeRustlsConnect,
    /// What the certificate chain is checked against, for messages; None when it is not.
    roots: Option<String>,
}

/// Where trusted roots come from.
enum Roots {
    File { path: PathBuf, named: &'static str },
    System,
}

impl Tls {
    /// The options win over the URL; a mode or root certificate that is not usable is
    /// `INVALID_CONFIG` naming where it came from.
    pub fn new(config: &PoolConfig, url: UrlTls) -> Result<Tls> {
        let given = match (&config.pg_ssl_root_cert, url.root_cert) {
            (Some(path), _) => Some((path.clone(), ROOT_CERT_OPTION)),
            (None, Some(path)) => Some((PathBuf::from(path), "POOL_DB_URL")),
            (None, None) => None,
        };
        let given = given.map(|(path, named)| match path.to_str() {
            Some(SYSTEM) => Roots::System,
            _ => Roots::File { path, named },
        });
        let mode = match (config.pg_ssl_mode, url.mode) {
            (Some(mode), _) => mode,
            (None, Some(name)) => PgSslMode::from_name(&name).ok_or_else(|| {
                let all: Vec<&str> = PgSslMode::ALL.iter().map(|(n, _)| *n).collect();
                Error::config(
                    "POOL_DB_URL",
                    format!("sslmode={name} is not one of {}", all.join(", ")),
                )
            })?,
            // libpq: the system's store alone would be pointless without the host name check.
            (None, None) if matches!(given, Some(Roots::System)) => PgSslMode::VerifyFull,
            (None, None) => PgSslMode::Prefer,
        };
        let check_chain = matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull) || given.is_some();
        let roots = match (check_chain, given) {
            (false, _) => None,
            (true, Some(Roots::File { path, named })) => Some((from_file(&path, named)?, path.display().to_string())),
            (true, Some(Roots::System) | None) => Some((from_system(mode)?, "the system's store".to_string())),
        };
        let (roots, described) = roots.unzip();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Verifier {
            roots,
            check_name: mode == PgSslMode::VerifyFull,
            provider: Arc::clone(&provider),
        };
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(format!("cannot set TLS up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Tls {
            mode,
            connector: MakeRustlsConnect::new(client),
            roots: described,
        })
    }

    pub fn mode(&self) -> PgSslMode {
        self.mode
    }

    /// What tokio-postgres is asked to negotiate; the verify modes are require plus our checks.
    pub fn negotiation(&self) -> SslMode {
        match self.mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Prefer => SslMode::Prefer,
            PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => SslMode::Require,
        }
    }

    pub fn connector(&self) -> MakeRustlsConnect {
        self.connector.clone()
    }

    /// A failed connection attempt as the error to act on, when TLS is what failed: a
    /// certificate not trusted, a host name it does not name, a server without TLS when TLS is
    /// demanded. Retrying cannot mend these, so they are `INVALID_CONFIG`. None for everything
    /// else, the network breaking off a handshake included (`CONNECTION_LOST` as before).
    pub fn failure(&self, error: &tokio_postgres::Error) -> Option<Error> {
        // tokio-postgres's errors of its TLS step say this first (its error kinds are private).
        if !error.to_string().starts_with("error performing TLS handshake") {
            return None;
        }
        let mut io_error = false;
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Some(self.refused(&self.explain(tls)));
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                // tokio-rustls hands rustls's error over inside an I/O error.
                if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                    return Some(self.refused(&self.explain(tls)));
                }
                io_error = true;
            }
            source = e.source();
        }
        // The one TLS error that is not the connector's or the socket's.
        (!io_error).then(|| self.refused("the server does not offer TLS"))
    }

    fn refused(&self, what: &str) -> Error {
        Error::config(
            "POOL_DB_URL",
            format!("TLS with PostgreSQL failed, {what} (sslmode {})", self.mode.name()),
        )
    }

    fn explain(&self, error: &rustls::Error) -> String {
        let roots = self.roots.as_deref().unwrap_or("no roots");
        match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                format!("certificate not trusted: no root certificate in {roots} signed it")
            }
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, presented }) => {
                format!(
                    "host name mismatch: the certificate names {} and not {}",
                    presented.join(", "),
                    expected.to_str()
                )
            }
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
                "host name mismatch: the certificate does not name the host connected to".to_string()
            }
            rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
                format!("certificate expired: {error}")
            }
            other => format!("TLS handshake failed: {other}"),
        }
    }
}

/// The certificates of a PEM file as trusted roots.
fn from_file(path: &std::path::Path, named: &'static str) -> Result<RootCertStore> {
    let shown = path.display();
    let text = std::fs::read(path)
        .map_err(|e| Error::config(named, format!("cannot read the root certificate {shown}: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(named, format!("{shown} is not a PEM file of certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(Error::config(named, format!("{shown} holds no PEM certificate")));
    }
    let mut roots = RootCertStore::empty();
    for (n, certificate) in certificates.into_iter().enumerate() {
        roots
            .add(certificate)
            .map_err(|e| Error::config(named, format!("certificate {} of {shown} is not usable: {e}", n + 1)))?;
    }
    Ok(roots)
}

/// The system's trusted roots (on Linux the bundle OpenSSL reads, `SSL_CERT_FILE` honoured).
fn from_system(mode: PgSslMode) -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(Error::config(
            ROOT_CERT_OPTION,
            format!(
                "sslmode {} checks the server's certificate and no root certificate is given, but the system's store has none{}{}",
                mode.name(),
                if why.is_empty() { "" } else { ": " },
                why.join("; ")
            ),
        ));
    }
    Ok(roots)
}

/// Checks the server's certificate as the mode asks. The handshake's own signatures are always
/// checked, so even require's unverified certificate is the one whose key the server holds.
#[derive(Debug)]
struct Verifier {
    /// None: the certificate is not checked (prefer or require without a root certificate).
    roots: Option<RootCertStore>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let certificate = ParsedCertificate::try_from(end_entity)?;
        let algorithms = self.provider.signature_verification_algorithms.all;
        verify_server_cert_signed_by_trust_anchor(&certificate, roots, intermediates, now, algorithms)?;
        if self.check_name {
            verify_server_name(&certificate, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            certificate,
            signed,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signed,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawValue;

    fn tls(url: &str, config: &PoolConfig) -> Result<Tls> {
        let (_, from_url) = split_url(url)?;
        Tls::new(config, from_url)
    }

    fn with(option: &str, value: &str) -> PoolConfig {
        let mut config = PoolConfig::default();
        config
            .apply_option(option, RawValue::Text(value.to_string()))
            .expect("a valid option");
        config
    }

    /// A scratch file holding `text`, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, text: &str) -> Scratch {
            let path = std::env::temp_dir().join(format!("sp-tls-{}-{name}", std::process::id()));
            std::fs::write(&path, text).expect("a scratch file");
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn the_url_keeps_what_tokio_postgres_knows_and_gives_up_the_rest() -> Result<()> {
        let (rest, tls) =
            split_url("postgres://u@h/db?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem")?;
        assert_eq!(rest, "postgres://u@h/db?connect_timeout=3");
        assert_eq!(tls.mode.as_deref(), Some("verify-full"));
        assert_eq!(tls.root_cert.as_deref(), Some("/etc/ca x.pem"));
        assert_eq!(split_url("postgres://u@h/db?sslmode=require")?.0, "postgres://u@h/db");
        assert_eq!(
            split_url("postgres://u@h/db")?,
            ("postgres://u@h/db".to_string(), UrlTls::default())
        );
        let bad = split_url("postgres://u@h/db?sslrootcert=%zz").expect_err("a bad escape");
        assert_eq!(bad.code(), "INVALID_CONFIG");
        Ok(())
    }

    #[test]
    fn the_mode_is_the_option_else_the_url_else_prefer() -> Result<()> {
        let default = PoolConfig::default();
        assert_eq!(tls("postgres://u@h/db", &default)?.mode(), PgSslMode::Prefer);
        assert_eq!(tls("postgres://u@h/db", &default)?.negotiation(), SslMode::Prefer);
        assert_eq!(
            tls("postgres://u@h/db?sslmode=disable", &default)?.negotiation(),
            SslMode::Disable
        );
        let required = tls("postgres://u@h/db?sslmode=REQUIRE", &default)?;
        assert_eq!(
            (required.mode(), required.negotiation()),
            (PgSslMode::Require, SslMode::Require)
        );
        let option = with("pgSslMode", "disable");
        assert_eq!(
            tls("postgres://u@h/db?sslmode=require", &option)?.mode(),
            PgSslMode::Disable
        );
        Ok(())
    }

    #[test]
    fn a_mode_libpq_does_not_have_is_refused_naming_the_url() {
        let err = tls("postgres://u@h/db?sslmode=allow-ish", &PoolConfig::default())
            .err()
            .expect("refused");
        assert_eq!(err.code(), "INVALID_CONFIG");
        assert!(
            err.to_string()
                .starts_with("invalid POOL_DB_URL: sslmode=allow-ish is not one of disable, prefer"),
            "{err}"
        );
    }

    #[test]
    fn a_root_certificate_that_is_missing_or_not_pem_is_refused_naming_it() {
        let missing = tls(
            "postgres://u@h/db?sslmode=verify-full",
            &with("pgSslRootCert", "/no/such/ca.pem"),
        )
        .err()
        .expect("refused");
        assert_eq!(missing.code(), "INVALID_CONFIG");
        assert!(
            missing.to_string().starts_with(
                "invalid pgSslRootCert/POOL_PG_SSL_ROOT_CERT: cannot read the root certificate /no/such/ca.pem"
            ),
            "{missing}"
        );
        let text = Scratch::new("not-pem", "not a certificate\n");
        let url = format!("postgres://u@h/db?sslmode=verify-ca&sslrootcert={}", text.0.display());
        let not_pem = tls(&url, &PoolConfig::default()).err().expect("refused");
        assert!(
            not_pem.to_string().starts_with("invalid POOL_DB_URL: ") && not_pem.to_string().contains("holds no PEM"),
            "{not_pem}"
        );
        let garbled = Scratch::new(
            "garbled",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        let err = tls(
            "postgres://u@h/db?sslmode=require",
            &with("pgSslRootCert", &garbled.0.display().to_string()),
        )
        .err()
        .expect("refused");
        assert!(
            err.to_string()
                .starts_with("invalid pgSslRootCert/POOL_PG_SSL_ROOT_CERT: "),
            "{err}"
        );
    }

    #[test]
    fn the_system_store_is_libpqs_sslrootcert_system_and_makes_verify_full_the_default() {
        // Where the system has no store this is the error saying so, which is what is checked.
        match tls("postgres://u@h/db?sslrootcert=system", &PoolConfig::default()) {
            Ok(tls) => assert_eq!(tls.mode(), PgSslMode::VerifyFull),
            Err(e) => assert!(e.to_string().contains("the system's store has none"), "{e}"),
        }
    }
}
