//! A child process owned by a thread of its own: started with `PR_SET_PDEATHSIG`, so it dies with
//! that thread however the program ends (panic, `process::exit`, a killed test binary), and
//! killed when its owner is dropped.

use std::io;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use crate::die_with_owner_thread;

/// A running child process; killed on drop.
pub struct OwnedProcess {
    pid: u32,
    stop: Option<mpsc::Sender<()>>,
    owner: Option<std::thread::JoinHandle<()>>,
}

impl OwnedProcess {
    /// Spawns `cmd` (standard streams closed) from a new thread named `name`.
    pub fn spawn(mut cmd: Command, name: &str) -> io::Result<OwnedProcess> {
        let (started_tx, started_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let owner = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                die_with_owner_thread(&mut cmd);
                let mut child = match cmd.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(child.id()));
                // Either the owner is dropped or asks to stop; both end the child.
                let _ = stop_rx.recv();
                let _ = child.kill();
                let _ = child.wait();
            })?;
        let pid = started_rx
            .recv()
            .map_err(|_| io::Error::other("the owner thread died"))??;
        Ok(OwnedProcess {
            pid,
            stop: Some(stop_tx),
            owner: Some(owner),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Keeps the child running until the program exits.
    pub fn keep_for_process(mut self) {
        std::mem::forget(self.stop.take());
        std::mem::forget(self.owner.take());
    }
}

impl Drop for OwnedProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}
