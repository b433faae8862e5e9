//! Shared test fixtures: a throw-away PKI made with rcgen, and TLS roles
//! built from it.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use strata_tls::config::{client_config, server_config, Identity, Trust};
use strata_tls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use strata_tls::rustls::RootCertStore;
use strata_tls::{TlsClient, TlsServer};

/// A CA and the certificates it signs.
pub struct Pki {
    pub ca_cert: CertificateDer<'static>,
    pub ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    pub fn new(cn: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Pki {
            ca_cert: ca.der().clone(),
            ca_pem: ca.pem(),
            ca,
            ca_key,
        }
    }

    /// A leaf for `names`, valid from `from` to `until` (years).
    pub fn leaf_dated(&self, names: &[&str], from: i32, until: i32) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        params
            .distinguished_name
            .push(DnType::CommonName, "strata test leaf");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Leaf {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_dated(names, 2020, 2090)
    }

    pub fn roots(&self) -> RootCertStore {
        let mut r = RootCertStore::empty();
        r.add(self.ca_cert.clone()).unwrap();
        r
    }
}

#[derive(Clone)]
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

impl Leaf {
    pub fn identity(&self) -> Identity {
        Identity {
            chain: vec![self.cert.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        }
    }
}

/// The test PKI, made once per test binary.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::new("Strata Test CA"))
}

/// The server leaf for localhost, made once.
pub fn localhost_leaf() -> &'static Leaf {
    static LEAF: OnceLock<Leaf> = OnceLock::new();
    LEAF.get_or_init(|| pki().leaf(&["localhost", "127.0.0.1"]))
}

pub fn server() -> TlsServer {
    let cfg = server_config(localhost_leaf().identity(), None, vec![]).unwrap();
    TlsServer::new(Arc::new(cfg)).unwrap()
}

pub fn client() -> TlsClient {
    client_for("localhost")
}

pub fn client_for(name: &str) -> TlsClient {
    let cfg = client_config(Trust::Roots(pki().roots()), None, vec![]).unwrap();
    TlsClient::new(
        Arc::new(cfg),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap()
}

/// A scratch directory under the target dir, unique per name.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-tls-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
