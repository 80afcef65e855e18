//! Starting the binaries under test as child processes that can not
//! outlive the test.

mod capture;
mod guard;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

pub use guard::ChildGuard;

/// Where `libfaketime` lives on Debian/Ubuntu (x86_64) and other layouts;
/// `FAKETIME_LIB` overrides.
const FAKETIME_LIBS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
];

/// Describes a process to start; [`ProcBuilder::spawn`] starts it as a
/// [`ChildGuard`].
#[derive(Clone, Debug)]
pub struct ProcBuilder {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    faketime: Option<String>,
    dir: Option<PathBuf>,
    label: Option<String>,
}

impl ProcBuilder {
    /// A process running `program` (a path, or a name looked up in `PATH`).
    pub fn new(program: impl AsRef<Path>) -> ProcBuilder {
        ProcBuilder {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            envs: Vec::new(),
            faketime: None,
            dir: None,
            label: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (the test's environment is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs the program as `faketime '<date>' <program>` would: its wall
    /// clock starts at `date` (e.g. `"2016-03-01 00:00:00"`) and runs on.
    /// A spec starting with `@`, `+` or `-` is passed to libfaketime as is
    /// (e.g. `"+10y"`). `None` runs it with the real clock.
    ///
    /// Implemented by preloading libfaketime rather than through the
    /// `faketime` wrapper: the wrapper forks and waits, so the PID we hold
    /// would be the wrapper's, and killing it would orphan the real
    /// process. Monotonic clocks are left real (the wrapper's
    /// `--exclude-monotonic`) so tokio timers behave. A statically linked
    /// binary ignores the preload: keep binaries under test dynamic.
    pub fn faketime(mut self, date: Option<&str>) -> Self {
        self.faketime = date.map(str::to_owned);
        self
    }

    /// Working directory of the process (default: the test's).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Name shown before each echoed output line (default: the program's
    /// file name).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Starts the process with stdout and stderr captured.
    ///
    /// # Panics
    /// If it can not be started (missing program, or libfaketime when
    /// [`ProcBuilder::faketime`] is set), saying which.
    pub fn spawn(self) -> ChildGuard {
        let label = self.label.clone().unwrap_or_else(|| {
            let name = self.program.file_name().unwrap_or(self.program.as_os_str());
            name.to_string_lossy().into_owned()
        });
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Plain logs whatever a binary's terminal detection decides, and
            // backtraces if it panics.
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1");
        if let Some(spec) = &self.faketime {
            cmd.env("LD_PRELOAD", faketime_lib())
                .env("FAKETIME", faketime_spec(spec))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        let child = spawn_tied_to_process(cmd).unwrap_or_else(|e| {
            panic!(
                "cannot start {} {:?}: {e}",
                self.program.display(),
                self.args
            )
        });
        ChildGuard::new(child, label)
    }

    /// Runs the process to completion (see [`run_to_end`]).
    pub fn run_to_end(self, timeout: Duration) -> (i32, String, String) {
        let what = format!("{} {:?}", self.program.display(), self.args);
        let guard = self.spawn();
        let Some(status) = guard.wait_exit(timeout) else {
            panic!(
                "{what} still running after {timeout:?}; output:\n{}",
                guard.output()
            );
        };
        // The pipes close right after exit, unless the program left a child
        // holding them; do not wait forever for that.
        guard.wait_output_closed(Duration::from_secs(5));
        let code = guard::exit_code(status);
        (code, guard.stdout(), guard.stderr())
    }
}

/// Runs `program args...` to completion within `timeout` and returns
/// `(exit code, stdout, stderr)`; a process killed by signal N reports
/// `128 + N`, as a shell would. For one-shot commands like
/// `serialctl pki init`.
///
/// # Panics
/// If it can not be started or does not finish in time (it is then killed).
pub fn run_to_end<I, S>(
    program: impl AsRef<Path>,
    args: I,
    timeout: Duration,
) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ProcBuilder::new(program).args(args).run_to_end(timeout)
}

fn faketime_spec(spec: &str) -> String {
    if spec.starts_with(['@', '+', '-']) {
        spec.to_owned()
    } else {
        format!("@{spec}")
    }
}

/// The libfaketime to preload (`FAKETIME_LIB`, else the first that exists).
pub(crate) fn faketime_lib() -> PathBuf {
    if let Some(lib) = std::env::var_os("FAKETIME_LIB") {
        return PathBuf::from(lib);
    }
    FAKETIME_LIBS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("libfaketime not found in {FAKETIME_LIBS:?}: install it (apt-get install faketime) or set FAKETIME_LIB")
        })
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` so that the child is SIGKILLed by the kernel if this test
/// process dies, even by SIGKILL (a CI timeout), when no `Drop` runs.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// not the process. Test threads end with their test, and a guard may be
/// handed to another thread, so every child is forked from one spawner
/// thread that lives as long as the process.
fn spawn_tied_to_process(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("serialmesh-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the spawner thread: {e}"));
        tx
    });
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

#[cfg(test)]
mod tests;
