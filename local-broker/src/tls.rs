//! Tansu behind a real TLS terminator (Debian's `stunnel4`): Tansu on a plaintext loopback port,
//! advertising the port of a stunnel in front of it, with a test CA made here (rcgen). Clients
//! configured with [`TlsTansu::client_settings`] (`security.protocol=SSL` and the CA) talk TLS on
//! every connection, bootstrap and partition leaders alike. For the secured-Kafka tests and
//! `loadgen --broker tansu-tls`.
//!
//! The other way round, [`ClientTunnel`] is a stunnel in client mode: plaintext in, TLS out to a
//! server that shows a certificate made here. `loadgen`'s `workload.edge_tls` puts one in front
//! of the proxy's `https://` listener.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::{free_port, wait_for_port, LocalBroker, OwnedProcess};

/// A stunnel on a loopback port forwarding to another loopback port, with a test CA made here;
/// stopped on drop, the certificates removed. In front of Tansu ([`TlsTansu`]) or of the SASL
/// front ([`crate::sasl::SaslTansu`]).
pub struct Terminator {
    /// The TLS port.
    port: u16,
    /// The CA that signed the terminator's certificate (PEM), for `ssl.ca.location`.
    ca: PathBuf,
    /// Another CA, which signed nothing the broker shows (for refusal tests).
    other_ca: PathBuf,
    stunnel: Option<OwnedProcess>,
    dir: PathBuf,
}

/// Tansu behind stunnel; both stopped on drop.
pub struct TlsTansu {
    /// `127.0.0.1:PORT` of the TLS terminator.
    bootstrap: String,
    terminator: Option<Terminator>,
    broker: Option<LocalBroker>,
}

fn ca() -> Result<(rcgen::Certificate, KeyPair, CertificateParams), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kafka-proxy test CA");
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert, key, params))
}

/// The stunnel binary Debian installs (`stunnel4`, or `stunnel` elsewhere).
fn stunnel_binary() -> io::Result<&'static str> {
    ["stunnel4", "stunnel"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "stunnel is not installed (run scripts/install-deps.sh)",
            )
        })
}

/// A test CA, a second CA that signed nothing, and a server certificate for `127.0.0.1` and
/// `localhost` signed by the first, written as PEM files into `dir`.
struct TestCertificates {
    ca: PathBuf,
    other_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestCertificates {
    fn write(dir: &Path) -> io::Result<TestCertificates> {
        let tls_err = |e: rcgen::Error| io::Error::other(format!("test certificates: {e}"));
        std::fs::create_dir_all(dir)?;
        let (ca_cert, ca_key, ca_params) = ca().map_err(tls_err)?;
        let (other_cert, _, _) = ca().map_err(tls_err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().map_err(tls_err)?;
        let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .and_then(|p| p.signed_by(&server_key, &issuer))
            .map_err(tls_err)?;
        Ok(TestCertificates {
            ca: write(dir, "ca.pem", ca_cert.pem())?,
            other_ca: write(dir, "other-ca.pem", other_cert.pem())?,
            cert: write(dir, "server.pem", server.pem())?,
            key: write(dir, "server.key", server_key.serialize_pem())?,
        })
    }
}

fn write(dir: &Path, name: &str, text: String) -> io::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// stunnel with `config`, once it accepts on loopback `port`.
fn spawn_stunnel(config: &Path, port: u16) -> io::Result<OwnedProcess> {
    let mut cmd = Command::new(stunnel_binary()?);
    cmd.arg(config);
    let stunnel = OwnedProcess::spawn(cmd, "stunnel")?;
    wait_for_port(port, "stunnel")?;
    Ok(stunnel)
}

impl Terminator {
    /// TLS on loopback `port`, forwarding to loopback `forward`.
    pub fn start(port: u16, forward: u16) -> io::Result<Terminator> {
        let dir = std::env::temp_dir().join(format!("tls-front-{}-{port}", std::process::id()));
        let certs = TestCertificates::write(&dir)?;
        let config = write(
            &dir,
            "stunnel.conf",
            format!(
                "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{forward}\ncert = {}\nkey = {}\n",
                certs.cert.display(),
                certs.key.display()
            ),
        )?;
        let stunnel = spawn_stunnel(&config, port)?;
        let TestCertificates { ca, other_ca, .. } = certs;
        Ok(Terminator {
            port,
            ca,
            other_ca,
            stunnel: Some(stunnel),
            dir,
        })
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM) that signed the terminator's certificate.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// A CA certificate that did not.
    pub fn other_ca(&self) -> &Path {
        &self.other_ca
    }

    /// Keeps stunnel (and the certificates) until the program exits.
    pub fn keep_for_process(mut self) {
        if let Some(s) = self.stunnel.take() {
            s.keep_for_process();
        }
        std::mem::forget(self);
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.stunnel.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TlsTansu {
    pub fn start() -> io::Result<TlsTansu> {
        let plain = free_port()?;
        let tls = free_port()?;
        let broker = LocalBroker::start_advertising(plain, tls)?;
        let terminator = Terminator::start(tls, plain)?;
        Ok(TlsTansu {
            bootstrap: format!("127.0.0.1:{tls}"),
            terminator: Some(terminator),
            broker: Some(broker),
        })
    }

    /// `HOST:PORT` of the TLS listener, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    fn terminator(&self) -> &Terminator {
        self.terminator.as_ref().expect("kept until drop")
    }

    /// The CA certificate (PEM) that signed the broker's certificate.
    pub fn ca(&self) -> &Path {
        self.terminator().ca()
    }

    /// A CA certificate that did not.
    pub fn other_ca(&self) -> &Path {
        self.terminator().other_ca()
    }

    /// What a librdkafka client needs to reach it.
    pub fn client_settings(&self) -> Vec<(String, String)> {
        vec![
            ("security.protocol".into(), "SSL".into()),
            ("ssl.ca.location".into(), self.ca().display().to_string()),
        ]
    }

    /// Tansu's process id.
    pub fn pid(&self) -> Option<u32> {
        self.broker.as_ref().map(LocalBroker::pid)
    }

    /// Keeps both processes (and the certificates) until the program exits.
    pub fn keep_for_process(mut self) -> String {
        if let Some(t) = self.terminator.take() {
            t.keep_for_process();
        }
        if let Some(b) = self.broker.take() {
            b.keep_for_process();
        }
        self.bootstrap.clone()
    }
}

impl Drop for TlsTansu {
    fn drop(&mut self) {
        // stunnel first, then the broker behind it.
        self.terminator.take();
        self.broker.take();
    }
}

/// A stunnel in client mode on a loopback port: each plaintext connection to it goes on over TLS
/// to loopback `forward`, whose certificate must be the one in [`ClientTunnel::keystore`]
/// (stunnel checks its chain against the test CA and its address); stopped on drop, the
/// certificates removed.
pub struct ClientTunnel {
    /// The plaintext port.
    port: u16,
    /// The server's certificate and key in one PEM file (an https listener's keystore).
    keystore: PathBuf,
    stunnel: Option<OwnedProcess>,
    dir: PathBuf,
}

impl ClientTunnel {
    /// Plaintext on loopback `port`, TLS to loopback `forward` (which may start listening later:
    /// stunnel connects per accepted connection).
    pub fn start(port: u16, forward: u16) -> io::Result<ClientTunnel> {
        let dir = std::env::temp_dir().join(format!("tls-client-{}-{port}", std::process::id()));
        let certs = TestCertificates::write(&dir)?;
        let keystore = write(
            &dir,
            "server-keystore.pem",
            std::fs::read_to_string(&certs.cert)? + &std::fs::read_to_string(&certs.key)?,
        )?;
        let config = write(
            &dir,
            "stunnel.conf",
            format!(
                "foreground = yes\npid =\n[edge]\nclient = yes\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{forward}\nCAfile = {}\nverifyChain = yes\ncheckIP = 127.0.0.1\n",
                certs.ca.display()
            ),
        )?;
        let stunnel = spawn_stunnel(&config, port)?;
        Ok(ClientTunnel {
            port,
            keystore,
            stunnel: Some(stunnel),
            dir,
        })
    }

    /// The plaintext port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certificate chain and private key (PEM) the TLS server must show.
    pub fn keystore(&self) -> &Path {
        &self.keystore
    }

    /// stunnel's process id.
    pub fn pid(&self) -> Option<u32> {
        self.stunnel.as_ref().map(OwnedProcess::pid)
    }
}

impl Drop for ClientTunnel {
    fn drop(&mut self) {
        self.stunnel.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
