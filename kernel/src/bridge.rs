//! The cell bridge: how Rust cells reach the session's datasite.
//!
//! Cells run in evcxr's child process and link only the thin facade (see the README's "Why cells
//! link a facade"). The facade sends each call as one line of JSON over a Unix socket that this
//! kernel process serves. Datasite calls are the vocabulary's (`veil::api::call::Call`), sent with
//! the client handle they are made as (`{"op": "call", "args": {"client": H, "call": CALL,
//! "parts": [HANDLE, ...]}}`) and
//! forwarded to that client's [`Client::call`], so the datasite's one dispatch decides them; the
//! reply's data and pointers become handles this process holds, and its records come back as their
//! views with rendered displays (`forward`). The rest is the kernel's own small vocabulary for what it holds,
//! `veil::api::kernel::KernelCall`: datasites and logins, frames and arrays a cell made (ops on
//! them, mock recipes), a pointer's mock, displays, and `release`; it is answered by one `match` on
//! that enum. A call that names values by part (an upload) sends the kernel's handles to them beside
//! it; the bridge puts the values it holds in their place.
//!
//! So a datasite launched by `%datasite launch` is the one a cell reaches with `site()`, and the
//! reverse. The socket lives in a directory only this user can open, and every request carries a
//! random token that only this kernel's children inherit (`VEIL_BRIDGE_TOKEN`).
//!
//! Wire format, one line each way:
//! `{"token": T, "op": "site.launch", "args": {...}}` → `{"ok": VALUE}` or
//! `{"err": {"name": "PermissionDenied", "message": "..."}}`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};
use veil::api::kernel::{self as k, KernelCall, Recipe};
use veil::api::view::{AssetView, DatasetView};
use veil::error::clip;
use veil::{Client, Data, Datasite, LaunchOptions, Pointer, Render};

use crate::iopub::Iopub;
use crate::message::KernelError;
use crate::session::{Session, Site};

mod forward;

/// The environment variable naming the bridge's socket, inherited by evcxr's child.
pub const SOCKET_ENV: &str = "VEIL_BRIDGE_SOCKET";
/// The environment variable holding the bridge's token.
pub const TOKEN_ENV: &str = "VEIL_BRIDGE_TOKEN";
/// Longest operation name (the real ones are a few words).
const MAX_OP_CHARS: usize = 64;
/// Most values one datasite call may carry: an upload's data and mocks.
const MAX_PARTS: usize = 2 * veil::datasite::MAX_ASSETS;
/// Longest quote of a cell's input in a message.
const MAX_QUOTE_CHARS: usize = 300;
/// Largest request accepted (a literal array from a cell is the big case).
pub const MAX_REQUEST_BYTES: u64 = 64 << 20;

/// The bound socket. Dropping it removes the socket's directory.
pub struct Bridge {
    dir: PathBuf,
    socket: PathBuf,
    token: String,
    listener: UnixListener,
}

impl Bridge {
    /// Binds a socket in a fresh private directory under `parent`.
    pub fn bind(parent: &Path) -> Result<Bridge> {
        let dir = parent.join(format!("veil-kernel-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .with_context(|| format!("creating the cell bridge directory {}", dir.display()))?;
        let socket = dir.join("bridge.sock");
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("binding the cell bridge socket {}", socket.display()))?;
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Ok(Bridge {
            dir,
            socket,
            token,
            listener,
        })
    }

    /// The private directory the socket is in (only this user may open it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The token requests must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Puts the socket and token in this process's environment, so evcxr's child inherits them.
    ///
    /// Call while the process is still single-threaded (see `rust::Workdir::acquire`).
    pub fn export_env(&self) {
        #[allow(unsafe_code)]
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe {
            std::env::set_var(SOCKET_ENV, &self.socket);
            std::env::set_var(TOKEN_ENV, &self.token);
        }
    }

    /// Serves requests on background threads until the process exits.
    pub fn serve(&self, cells: Arc<Cells>) -> Result<()> {
        let listener = self
            .listener
            .try_clone()
            .context("cloning the bridge socket")?;
        let token = self.token.clone();
        std::thread::Builder::new()
            .name("veil-bridge".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let cells = cells.clone();
                    let token = token.clone();
                    let _ = std::thread::Builder::new()
                        .name("veil-bridge-conn".into())
                        .spawn(move || serve_connection(stream, &token, &cells));
                }
            })
            .context("starting the bridge thread")?;
        Ok(())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn serve_connection(stream: UnixStream, token: &str, cells: &Cells) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = std::io::BufWriter::new(writer);
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        // One byte over the limit tells an oversized request from one exactly at it.
        match (&mut reader)
            .take(MAX_REQUEST_BYTES + 1)
            .read_line(&mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(n) if n as u64 > MAX_REQUEST_BYTES => {
                let e = KernelError::new(
                    "InvalidInput",
                    format!(
                        "a request to the kernel is over {} MiB; pass big data as a file (read_csv, read_parquet)",
                        MAX_REQUEST_BYTES >> 20
                    ),
                );
                let _ = reply(&mut writer, Err(e));
                return;
            }
            Ok(_) => {}
        }
        let answer = cells.handle(&line, token);
        if reply(&mut writer, answer).is_err() {
            return;
        }
    }
}

fn reply(writer: &mut impl Write, answer: Result<Value, KernelError>) -> std::io::Result<()> {
    let line = match answer {
        Ok(value) => json!({ "ok": value }),
        Err(e) => json!({ "err": { "name": e.ename, "message": e.evalue } }),
    };
    serde_json::to_writer(&mut *writer, &line)?;
    writer.write_all(b"\n")?;
    writer.flush()
}

/// Errors the bridge returned during the running cell. evcxr prints an error a cell returns with `?`
/// on stderr, with `Display` (the message); the output forwarder looks the line up here to turn it into
/// the cell's Jupyter error, named after the error's kind.
#[derive(Debug, Clone, Default)]
pub struct Failures(Arc<Mutex<Vec<KernelError>>>);

impl Failures {
    fn lock(&self) -> MutexGuard<'_, Vec<KernelError>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets earlier cells' errors.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Remembers an error of the running cell, the bridge's or the facade's own.
    pub fn record(&self, e: &KernelError) {
        let mut list = self.lock();
        // A loop that fails on every step must not grow this without bound.
        if list.len() >= 64 {
            list.remove(0);
        }
        list.push(e.clone());
    }

    /// The recorded error that `line` (a line of the cell's stderr) prints, if any.
    pub fn matching(&self, line: &str) -> Option<KernelError> {
        self.lock()
            .iter()
            .rev()
            .find(|e| !line.is_empty() && e.evalue.lines().next() == Some(line))
            .cloned()
    }
}

/// A value the kernel holds for cells.
#[derive(Clone)]
enum Held {
    Site(Site),
    Client(Client),
    Data(Data),
    Pointer(Pointer),
}

impl Held {
    fn kind(&self) -> &'static str {
        match self {
            Held::Site(_) => "datasite",
            Held::Client(_) => "client",
            Held::Data(_) => "data",
            Held::Pointer(_) => "pointer",
        }
    }
}

/// `fn $name(&self, id) -> Result<$ty>`: the held value of that kind, or an error naming the kind it is.
macro_rules! getter {
    ($name:ident, $variant:ident, $ty:ty, $what:literal) => {
        fn $name(&self, id: u64) -> Result<$ty, KernelError> {
            match self.held(id)? {
                Held::$variant(v) => Ok(v),
                other => Err(invalid(format!(
                    "handle {id} is a {}, not {}",
                    other.kind(),
                    $what
                ))),
            }
        }
    };
}

/// The bridge's state: the session it shares with magics and the values cells hold handles to.
pub struct Cells {
    session: Arc<Mutex<Session>>,
    failures: Failures,
    handles: Mutex<Handles>,
    /// Where the progress of long calls is shown, if anywhere.
    iopub: Option<Iopub>,
}

#[derive(Default)]
struct Handles {
    held: HashMap<u64, Held>,
}

#[derive(Deserialize)]
struct Request {
    token: String,
    op: String,
    #[serde(default)]
    args: Value,
}

fn invalid(problem: impl Into<String>) -> KernelError {
    KernelError::new("InvalidInput", problem)
}

/// The kernel call named `op` with `args`: an unknown name is an unknown operation, known names
/// with arguments that do not fit say which.
fn parse_call(op: &str, args: Value) -> Result<KernelCall, KernelError> {
    if !KernelCall::NAMES.contains(&op) {
        return Err(KernelError::new(
            "UnknownOperation",
            format!(
                "the kernel has no operation `{op}`; the facade and kernel versions may differ: reinstall with `veil-kernel install`"
            ),
        ));
    }
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(json!({ "op": op, "args": args })).map_err(|e| {
        // Serde quotes the offending value: cut it short.
        invalid(format!(
            "bad arguments to `{op}`: {}",
            clip(e.to_string(), MAX_QUOTE_CHARS)
        ))
    })
}

/// An array's or a number's values, as `f64`.
fn values(data: &Data) -> Result<Vec<f64>, KernelError> {
    Ok(match data {
        Data::F64(a) => a.iter().copied().collect(),
        Data::I64(a) => a.iter().map(|v| *v as f64).collect(),
        Data::Frame(_) => {
            return Err(KernelError::new(
                "TypeMismatch",
                "`values` reads arrays, and this is a frame; take a column first (on a pointer: `.column(name)`)",
            ));
        }
        Data::Json(serde_json::Value::Number(n)) => vec![n.as_f64().unwrap_or(f64::NAN)],
        Data::Json(v) => serde_json::from_value::<Vec<f64>>(v.clone()).map_err(|_| {
            KernelError::new(
                "TypeMismatch",
                "`values` reads numbers, and this value is not a number or a list of numbers; read it with `.json()`",
            )
        })?,
    })
}

/// A reply as the facade reads it: one of the vocabulary's types (`veil::api::kernel`'s replies).
fn typed(reply: &impl serde::Serialize) -> Value {
    // Views are plain structs and enums with string keys: serializing them cannot fail.
    serde_json::to_value(reply).expect("the kernel's replies serialize to JSON")
}

/// Text and HTML of a value, for the facade's displays.
fn rendered(value: &dyn Render) -> k::Rendered {
    k::Rendered {
        text: value.text(),
        html: value.html(),
    }
}

/// A record as cells read it: the vocabulary's view of it, and its rendered display.
fn shown<V>(view: V, display: &dyn Render) -> k::Shown<V> {
    k::Shown {
        view,
        rendered: rendered(display),
    }
}

fn data_info(data: &Data) -> k::DataInfo {
    k::DataInfo {
        kind: data.kind(),
        shape: data.shape(),
        columns: data
            .as_frame()
            .map(|f| f.get_column_names().iter().map(|c| c.to_string()).collect())
            .unwrap_or_default(),
    }
}

fn shown_user(user: &veil::User) -> k::Shown<veil::api::view::User> {
    shown(user.clone(), user)
}

fn shown_request(request: &veil::Request) -> k::Shown<veil::api::view::RequestView> {
    shown((**request).clone(), request)
}

fn shown_dataset(dataset: &veil::SiteDataset) -> k::Shown<DatasetView<k::Shown<AssetView>>> {
    let view = (**dataset).clone().map_assets(|a| shown((*a).clone(), &a));
    shown(view, dataset)
}

/// Every item shown, and the list shown whole.
fn shown_list<T, V>(list: &dyn Render, items: &[T], each: impl Fn(&T) -> V) -> k::Shown<Vec<V>> {
    shown(items.iter().map(each).collect(), list)
}

impl Cells {
    /// The bridge state over `session`, recording errors in `failures`.
    pub fn new(session: Arc<Mutex<Session>>, failures: Failures) -> Cells {
        Cells {
            session,
            failures,
            handles: Mutex::default(),
            iopub: None,
        }
    }

    /// Shows the progress of long calls (an upload's) in the running cell's output on `iopub`.
    pub fn reporting_to(mut self, iopub: Iopub) -> Cells {
        self.iopub = Some(iopub);
        self
    }

    /// Drops every value cells hold handles to, as a new kernel starts with none (a warm spare
    /// that served one kernel serves the next: `crate::spare`).
    pub fn forget_all(&self) {
        self.handles().held.clear();
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handles(&self) -> MutexGuard<'_, Handles> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one request line. Failures are recorded for the running cell.
    pub fn handle(&self, line: &str, token: &str) -> Result<Value, KernelError> {
        let request: Request = serde_json::from_str(line).map_err(|e| {
            invalid(format!(
                "the kernel could not read a request from the cell ({e}); the facade and kernel versions may differ: reinstall with `veil-kernel install`"
            ))
        })?;
        if request.token != token {
            return Err(KernelError::new(
                "PermissionDenied",
                "wrong bridge token: only cells of this kernel session may call it",
            ));
        }
        // Every operation's name is short: a long one is not one, and is not echoed whole.
        if request.op.len() > MAX_OP_CHARS {
            let shown: String = request.op.chars().take(MAX_OP_CHARS).collect();
            return Err(KernelError::new(
                "UnknownOperation",
                format!(
                    "the kernel has no operation `{shown}…`; the facade and kernel versions may differ: reinstall with `veil-kernel install`"
                ),
            ));
        }
        let Request { op, args, .. } = request;
        // A panic in the data libraries must fail the call, not the kernel.
        let run = |call| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call(call)))
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(KernelError::new(
                        "KernelPanic",
                        format!(
                            "`{op}` panicked in the kernel: {}",
                            clip(message, MAX_QUOTE_CHARS)
                        ),
                    ))
                })
        };
        // Unknown operations and bad arguments are the running cell's failures too.
        let outcome = parse_call(&op, args).and_then(run);
        if let Err(e) = &outcome {
            self.failures.record(e);
        }
        outcome
    }

    /// Keeps `value` under a new random handle: a cell cannot count its way to another cell's client
    /// (the owner's, say) by trying the numbers next to its own.
    fn hold(&self, value: Held) -> u64 {
        let mut h = self.handles();
        let id = loop {
            // At most 2^53, so the id survives any JSON reader as a number.
            let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 11).max(1);
            if !h.held.contains_key(&id) {
                break id;
            }
        };
        h.held.insert(id, value);
        id
    }

    fn held(&self, id: u64) -> Result<Held, KernelError> {
        self.handles().held.get(&id).cloned().ok_or_else(|| {
            invalid(format!(
                "no value with handle {id} in this kernel: it was released, or the kernel restarted; run the cell that made it again"
            ))
        })
    }

    getter!(site, Site, Site, "a datasite");

    /// A datasite handle that must be embedded in this kernel (to sign up on, land, clear).
    fn embedded(&self, id: u64, op: &str) -> Result<Datasite, KernelError> {
        match self.site(id)? {
            Site::Embedded(site) => Ok(site),
            Site::Served(site) => Err(KernelError::new(
                "ServedDatasite",
                format!(
                    "`{op}` applies to a datasite in this kernel, and {} is served at {}: its owner does that on the server",
                    site.name(),
                    site.url()
                ),
            )),
        }
    }
    getter!(client, Client, Client, "a client");
    getter!(data, Data, Data, "data");
    getter!(pointer, Pointer, Pointer, "a pointer");

    fn pointer_handle(&self, pointer: Pointer) -> Value {
        let info = veil::api::view::PointerView {
            id: pointer.id().to_string(),
            lineage: pointer.lineage().to_vec(),
            mock: data_info(pointer.mock()),
        };
        let handle = self.hold(Held::Pointer(pointer));
        typed(&k::Held { handle, info })
    }

    fn frame(&self, id: u64, op: &str) -> Result<veil::polars::prelude::DataFrame, KernelError> {
        let data = self.data(id)?;
        data.as_frame().cloned().ok_or_else(|| {
            KernelError::new(
                "TypeMismatch",
                format!(
                    "`{op}` needs a frame, and this is {}; frame operations apply to tables from read_csv or read_parquet",
                    data.describe()
                ),
            )
        })
    }

    fn site_handle(&self, site: Site) -> Value {
        match &site {
            Site::Embedded(s) => {
                let info = k::SiteInfo {
                    name: s.name().to_string(),
                    dir: s.dir().to_path_buf(),
                };
                typed(&k::Held {
                    handle: self.hold(Held::Site(site)),
                    info,
                })
            }
            Site::Served(s) => {
                let info = k::ServedInfo {
                    name: s.name().to_string(),
                    url: s.url().to_string(),
                };
                typed(&k::Held {
                    handle: self.hold(Held::Site(site)),
                    info,
                })
            }
        }
    }

    fn client_handle(&self, client: Client) -> Value {
        let info = k::ClientInfo {
            email: client.email().to_string(),
            role: client.role(),
            site: client.site_name().to_string(),
            notices: client.notices().to_vec(),
        };
        let handle = self.hold(Held::Client(client));
        typed(&k::Held { handle, info })
    }

    fn data_handle(&self, data: Data) -> Value {
        typed(&self.hold_data(data))
    }

    fn hold_data(&self, data: Data) -> k::Held<k::DataInfo> {
        let info = data_info(&data);
        let handle = self.hold(Held::Data(data));
        k::Held { handle, info }
    }

    fn call(&self, call: KernelCall) -> Result<Value, KernelError> {
        let op = call.name();
        Ok(match call {
            KernelCall::Launch {
                name,
                reset,
                dir,
                data_root,
            } => {
                let mut options = LaunchOptions::new(name).reset(reset);
                if let Some(dir) = dir {
                    options = options.dir(dir);
                }
                if let Some(root) = data_root {
                    options = options.data_root(root);
                }
                // The old datasite is landed before the new one opens, so relaunching with reset works.
                let mut session = self.session();
                session.land();
                let site = Site::Embedded(Datasite::launch_with(options)?);
                session.set_site(site.clone());
                drop(session);
                self.site_handle(site)
            }
            // The session's own datasite stays: a scientist's cell connecting to a server must not
            // land the datasite the owner serves from this kernel (`%datasite connect` switches).
            KernelCall::Connect { url } => self.site_handle(Site::Served(veil::connect(&url)?)),
            KernelCall::CurrentSite {} => {
                let site = Site::Embedded(self.session().embedded()?.clone());
                self.site_handle(site)
            }
            KernelCall::CurrentClient {} => {
                let client = self.session().client()?.clone();
                self.client_handle(client)
            }
            KernelCall::Login {
                site,
                email,
                password,
            } => {
                let site = self.site(site)?;
                let client = site.login(&email, &password.0)?;
                self.session().adopt_login(&site, &client);
                self.client_handle(client)
            }
            KernelCall::SignUp { site, user } => {
                typed(&shown_user(&self.embedded(site, op)?.sign_up(user)?))
            }
            KernelCall::Land { site } => {
                let site = self.embedded(site, op)?;
                let mut session = self.session();
                if session.embedded().is_ok_and(|s| s.dir() == site.dir()) {
                    session.land();
                } else {
                    site.land()?;
                }
                Value::Null
            }
            KernelCall::ClearResults { site } => {
                self.embedded(site, op)?.clear_results();
                Value::Null
            }
            KernelCall::Render { handle } => typed(&match self.held(handle)? {
                Held::Site(site) => rendered(&site),
                Held::Client(client) => rendered(&client),
                Held::Data(data) => rendered(&data),
                Held::Pointer(pointer) => rendered(&pointer),
            }),
            KernelCall::ReadCsv { path } => self.data_handle(veil::read_csv(&path)?.into()),
            KernelCall::ReadParquet { path } => self.data_handle(veil::read_parquet(&path)?.into()),
            KernelCall::Array { values, shape } => {
                let n = values.len();
                let array = veil::ndarray::ArrayD::from_shape_vec(shape.clone(), values).map_err(
                    |_| {
                        invalid(format!(
                            "{n} values do not fill shape {}; the shape's product must equal the number of values",
                            veil::ops::quote_shape(&shape)
                        ))
                    },
                )?;
                self.data_handle(array.into())
            }
            KernelCall::Drop { data, columns } => {
                let frame = self.frame(data, op)?;
                let names: Vec<&str> = frame
                    .get_column_names()
                    .iter()
                    .map(|c| c.as_str())
                    .collect();
                if let Some(absent) = columns.iter().find(|c| !names.contains(&c.as_str())) {
                    return Err(KernelError::new(
                        "NotFound",
                        format!(
                            "no column `{}` in this frame; its columns are: {}",
                            clip(absent.as_str(), MAX_QUOTE_CHARS),
                            names.join(", ")
                        ),
                    ));
                }
                self.data_handle(frame.drop_many(columns).into())
            }
            KernelCall::Apply {
                data,
                op: step,
                others,
            } => {
                let inputs: Vec<Data> = std::iter::once(data)
                    .chain(others)
                    .map(|h| self.data(h))
                    .collect::<Result<_, _>>()?;
                if inputs.len() != step.arity() || matches!(step, veil::ops::Op::Asset { .. }) {
                    return Err(invalid(format!(
                        "`{}` takes {} inputs and cannot run on a cell's data with {}; call it on a value and pass the others",
                        step.name(),
                        step.arity(),
                        inputs.len()
                    )));
                }
                let refs: Vec<&Data> = inputs.iter().collect();
                self.data_handle(veil::ops::eval(&step, &refs)?)
            }
            KernelCall::Values { data } => json!(values(&self.data(data)?)?),
            KernelCall::Plot { data, plot } => {
                let drawn = veil::plot::draw(&self.data(data)?, &plot)?;
                typed(&k::Picture {
                    title: drawn.title,
                    svg: drawn.svg,
                    vega_lite: drawn.vega_lite,
                })
            }
            KernelCall::Json { data } => match self.data(data)? {
                Data::Json(v) => v,
                Data::F64(a) => {
                    json!({ "shape": a.shape(), "values": a.iter().collect::<Vec<_>>() })
                }
                Data::I64(a) => {
                    json!({ "shape": a.shape(), "values": a.iter().collect::<Vec<_>>() })
                }
                Data::Frame(_) => {
                    return Err(KernelError::new(
                        "TypeMismatch",
                        "`json` reads values and arrays, and this is a frame; take `.head(n)` and display it instead",
                    ));
                }
            },
            KernelCall::Mock { data, recipe } => {
                let frame = self.frame(data, op)?;
                let mock = match recipe {
                    Recipe::ShiftAndJitter { seed } => veil::mock::shift_and_jitter(&frame, seed)?,
                    Recipe::ShuffleRows { seed } => veil::mock::shuffle_rows(&frame, seed)?,
                    Recipe::LaplaceNoise { seed, scale } => {
                        veil::mock::laplace_noise(&frame, scale, seed)?
                    }
                    Recipe::Synthesize { spec } => veil::mock::synthesize(&frame, &spec)?,
                };
                self.data_handle(mock.into())
            }
            KernelCall::PointerMock { pointer } => {
                self.data_handle(self.pointer(pointer)?.mock().clone())
            }
            KernelCall::Datasite {
                client,
                call,
                parts,
            } => self.forward(client, call, parts)?,
            KernelCall::Release { handles } => {
                let mut h = self.handles();
                for id in handles {
                    h.held.remove(&id);
                }
                Value::Null
            }
        })
    }
}
