//! Reading certificates and keys from PEM files, with errors that name the
//! file and say what was expected.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// Every certificate in a PEM file, in order. An error says which file and
/// why (missing, unreadable, no `CERTIFICATE` block).
pub fn load_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    let path = path.as_ref();
    let data = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot parse \"{}\": {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "\"{}\" holds no PEM CERTIFICATE block",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, String> {
    let path = path.as_ref();
    let data = read(path)?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("\"{}\" holds no PEM PRIVATE KEY block", path.display())
        }
        e => format!("cannot parse \"{}\": {e}", path.display()),
    })
}

/// A root store holding every certificate of a PEM file.
pub fn load_roots(path: impl AsRef<Path>) -> Result<RootCertStore, String> {
    let path = path.as_ref();
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| {
            format!(
                "\"{}\" holds an unusable CA certificate: {e}",
                path.display()
            )
        })?;
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read \"{}\": {e}", path.display()))
}
