//! Username/password authentication against a credentials file: MQTT CONNECTs
//! (`mqtt.credentials.file`) and HTTP BASIC (`authentication.credentials.file`).
//!
//! The file uses the format of Jetty's `PropertyFileLoginModule`, which Confluent's MQTT Proxy
//! (and REST Proxy) point their JAAS configuration at: one `username: password[,role...]` per
//! line (`=` may stand for `:`), `#` and `!` comments. A password is given in
//! clear, or as `SHA256:<64 hex digits>` (an extension: the file then holds no clear password).
//! Jetty's `MD5:`, `CRYPT:` and `OBF:` forms are refused at start-up rather than misread. The
//! roles after the password are kept for the HTTP edge (`authentication.roles`,
//! `schema.registry.admin.roles`); MQTT does not use them.
//!
//! The file is read again when its modification time changes, so accounts can be added or
//! revoked without a restart; a file that becomes unreadable or malformed keeps the previous
//! accounts and logs why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

type Digest = [u8; 32];

fn sha256(data: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// Compares two digests in time independent of where they differ.
fn same(a: &Digest, b: &Digest) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The outcome of checking a CONNECT's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// No username or no password given (3.1.1: CONNACK 5; 5: 0x87 not authorized).
    Missing,
    /// An unknown user or a wrong password (3.1.1: CONNACK 4; 5: 0x86).
    Wrong,
}

pub struct Credentials {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    modified: Option<SystemTime>,
    users: HashMap<String, Account>,
}

/// One line of the file: the password's digest and the user's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    digest: Digest,
    pub roles: Vec<String>,
}

impl Credentials {
    /// Reads the file; an unreadable or malformed file is an error (the proxy does not start).
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let (modified, users) = read(path)?;
        if users.is_empty() {
            tracing::warn!(path = %path.display(), "the credentials file lists no user: every login will be refused");
        }
        Ok(Credentials {
            path: path.to_path_buf(),
            state: Mutex::new(State { modified, users }),
        })
    }

    /// Checks a CONNECT's username and password.
    pub fn check(&self, username: Option<&str>, password: Option<&[u8]>) -> Verdict {
        let (Some(username), Some(password)) = (username, password) else {
            return Verdict::Missing;
        };
        let given = sha256(password);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.reload_if_changed(&mut state);
        // An unknown user costs the same comparison as a known one.
        let known = state.users.get(username).map(|a| &a.digest);
        let matches = same(&given, known.unwrap_or(&[0xff; 32]));
        if known.is_some() && matches {
            Verdict::Accepted
        } else {
            Verdict::Wrong
        }
    }

    /// The roles of `user` (none for an unknown user), as the file says now.
    pub fn roles(&self, user: &str) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .users
            .get(user)
            .map(|a| a.roles.clone())
            .unwrap_or_default()
    }

    fn reload_if_changed(&self, state: &mut State) {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified.is_none() || modified == state.modified {
            return;
        }
        match read(&self.path) {
            Ok((modified, users)) => {
                tracing::info!(path = %self.path.display(), users = users.len(), "credentials reloaded");
                state.modified = modified;
                state.users = users;
            }
            Err(e) => {
                tracing::warn!(error = %e, "credentials file not reloaded; keeping the previous accounts");
                state.modified = modified;
            }
        }
    }
}

type Loaded = (Option<SystemTime>, HashMap<String, Account>);

fn read(path: &Path) -> Result<Loaded, CredentialsError> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: shown(),
        source,
    })?;
    let users = parse(&text).map_err(|source| CredentialsError::Line {
        path: shown(),
        source,
    })?;
    Ok((modified, users))
}

/// Why the credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("credentials file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("credentials file {path}: {source}")]
    Line { path: String, source: LineError },
}

/// A line of the credentials file that is not `username: password`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct LineError {
    pub line: usize,
    pub what: String,
}

/// Parses the file's text into users, password digests and roles.
pub fn parse(text: &str) -> Result<HashMap<String, Account>, LineError> {
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let at = line
            .find([':', '='])
            .ok_or_else(|| line_error(n, "expected `username: password`"))?;
        let user = line[..at].trim();
        // Roles follow the password after commas.
        let mut fields = line[at + 1..].split(',');
        let password = fields.next().unwrap_or("").trim();
        let roles: Vec<String> = fields
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        if user.is_empty() || password.is_empty() {
            return Err(line_error(n, "expected `username: password`"));
        }
        let digest = match password.split_once(':') {
            Some((scheme, hex)) if scheme.eq_ignore_ascii_case("SHA256") => {
                parse_hex(hex.trim()).ok_or_else(|| line_error(n, "SHA256: needs 64 hex digits"))?
            }
            Some((scheme, _))
                if ["MD5", "CRYPT", "OBF"]
                    .iter()
                    .any(|s| scheme.eq_ignore_ascii_case(s)) =>
            {
                return Err(line_error(
                    n,
                    format!("{scheme}: passwords are not supported; give the password in clear or as SHA256:<hex>"),
                ))
            }
            _ => sha256(password.as_bytes()),
        };
        users.insert(user.to_string(), Account { digest, roles });
    }
    Ok(users)
}

/// The error of line `n` (0-based).
fn line_error(n: usize, what: impl Into<String>) -> LineError {
    LineError {
        line: n + 1,
        what: what.into(),
    }
}

fn parse_hex(hex: &str) -> Option<Digest> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jetty_format_with_hashed_passwords() {
        let hashed: String = sha256(b"s3cret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let text = format!(
            "# devices\n! also a comment\nsensor-1: pw1,admin, reader \nsensor-2=pw2\nhashed: SHA256:{hashed}\n"
        );
        let users = parse(&text).unwrap();
        assert_eq!(users.len(), 3);
        assert!(
            same(&users["sensor-1"].digest, &sha256(b"pw1")),
            "roles are not part of the password"
        );
        assert_eq!(users["sensor-1"].roles, ["admin", "reader"]);
        assert!(users["sensor-2"].roles.is_empty());
        assert!(same(&users["sensor-2"].digest, &sha256(b"pw2")));
        assert!(same(&users["hashed"].digest, &sha256(b"s3cret")));
        assert!(parse("nobody").unwrap_err().to_string().contains("line 1"));
        assert!(parse("u: MD5:abc").unwrap_err().to_string().contains("MD5"));
        assert!(parse("u: SHA256:abc")
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
        assert!(parse("u:").is_err());
    }

    #[test]
    fn check_and_reload() {
        let dir = std::env::temp_dir().join(format!("mqtt-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials.txt");
        std::fs::write(&path, "alice: wonderland\n").unwrap();
        let creds = Credentials::load(&path).unwrap();
        assert_eq!(
            creds.check(Some("alice"), Some(b"wonderland")),
            Verdict::Accepted
        );
        assert_eq!(creds.check(Some("alice"), Some(b"nope")), Verdict::Wrong);
        assert_eq!(
            creds.check(Some("bob"), Some(b"wonderland")),
            Verdict::Wrong
        );
        assert_eq!(creds.check(Some("alice"), None), Verdict::Missing);
        assert_eq!(creds.check(None, None), Verdict::Missing);
        // A changed file is read again on the next check (mtime set explicitly: coarse clocks).
        std::fs::write(&path, "bob: builder\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            creds.check(Some("bob"), Some(b"builder")),
            Verdict::Accepted
        );
        assert_eq!(
            creds.check(Some("alice"), Some(b"wonderland")),
            Verdict::Wrong
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
