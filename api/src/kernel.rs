//! The kernel's own calls: what a cell asks of the Jupyter kernel that serves it, about values the
//! kernel holds for the session (datasites it launched, logins, frames and arrays, pointers).
//!
//! A cell links only the thin facade, so the kernel process holds every datasite, client and value,
//! and a cell holds [`Handle`]s to them. Datasite calls travel inside [`KernelCall::Datasite`] as the
//! vocabulary's [`Call`], addressed by datasite ids; everything here addresses the kernel's handles,
//! which mean nothing outside that kernel. The wire form is `{"op": NAME, "args": {...}}`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::call::{Call, Secret};
use crate::ops::Op;
use crate::view::{DataKind, NewUser, Role};

/// The kernel's number for a value it holds for the session's cells: random, so one cell cannot
/// count its way to another's values.
pub type Handle = u64;

/// A mock recipe applied to a frame a cell holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "recipe", rename_all = "snake_case")]
pub enum Recipe {
    /// Each numeric column shifted and jittered (keeps row order: see the mock report).
    ShiftAndJitter {
        /// The random seed.
        seed: u64,
    },
    /// The rows in a random order.
    ShuffleRows {
        /// The random seed.
        seed: u64,
    },
    /// Laplace noise of `scale` on each numeric value.
    LaplaceNoise {
        /// The random seed.
        seed: u64,
        /// The noise's scale.
        scale: f64,
    },
    /// A synthesized mock (schema only, or DP marginals).
    Synthesize {
        /// How.
        spec: crate::mock::Synthesis,
    },
}

/// What a plot draws of a frame (see `Data::hist` and its siblings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlotSpec {
    /// A histogram of a numeric column.
    Hist {
        /// The column.
        column: String,
        /// How many bins (20 if not given).
        #[serde(default)]
        bins: Option<usize>,
    },
    /// A bar chart of a column's value counts.
    Counts {
        /// The column.
        column: String,
    },
    /// A scatter plot of one numeric column against another.
    Scatter {
        /// Along the horizontal axis.
        x: String,
        /// Along the vertical axis.
        y: String,
    },
    /// A line through the points of one numeric column against another, in the order of `x`.
    Line {
        /// Along the horizontal axis.
        x: String,
        /// Along the vertical axis.
        y: String,
    },
}

/// A plot the kernel drew: its title, an SVG and a Vega-Lite spec of the same picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    /// What it shows, in words.
    pub title: String,
    /// image/svg+xml.
    pub svg: String,
    /// application/vnd.vegalite.v5+json.
    pub vega_lite: serde_json::Value,
}

/// A display the kernel rendered: text/plain and text/html.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// text/plain.
    pub text: String,
    /// text/html (empty when the value has none).
    pub html: String,
}

/// A record as a cell reads it: the vocabulary's view of it (a [`User`](crate::view::User), a
/// [`RequestView`](crate::view::RequestView), a list of shown records, ...) and its display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown<V> {
    /// The view.
    pub view: V,
    /// Its display, as the datasite renders it.
    pub rendered: Rendered,
}

/// A value the kernel now holds for the session: its handle, and what a cell reads of it without
/// asking again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held<I> {
    /// The kernel's handle on it.
    pub handle: Handle,
    /// What a cell reads of it.
    pub info: I,
}

/// A frame or array held by the kernel, as a cell sees it without its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataInfo {
    /// Frame, array or JSON value.
    pub kind: DataKind,
    /// Rows × columns for a frame; the array's shape otherwise.
    pub shape: Vec<usize>,
    /// A frame's column names (empty for anything else).
    pub columns: Vec<String>,
}

/// A datasite the kernel holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    /// Its name.
    pub name: String,
    /// The directory it keeps its data in.
    pub dir: PathBuf,
}

/// A served datasite the kernel connected to (`veil::connect(url)`, `%datasite connect URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedInfo {
    /// Its name, as the server gave it.
    pub name: String,
    /// The address it is served at.
    pub url: String,
}

/// A login the kernel holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Who.
    pub email: String,
    /// Their role when they logged in.
    pub role: Role,
    /// The datasite's name.
    pub site: String,
    /// Warnings from login, e.g. that the default admin password is still set.
    pub notices: Vec<String>,
}

/// One call of a cell to its kernel.
///
/// # Replies
/// The kernel answers each call with one typed value (for `KernelCall::Datasite`, the datasite's
/// [`Reply`](crate::call::Reply) with data and pointers held by the kernel and records shown):
/// - `site.launch`, `site.current`: `Held<SiteInfo>`; `site.connect`: `Held<ServedInfo>`; `client.current`, `site.login`: `Held<ClientInfo>`;
/// - `data.*` and `pointer.mock`: `Held<DataInfo>`, except `data.values` (`Vec<f64>`) and `data.json`
///   (a JSON value); `render`: [`Rendered`]; `data.plot`: [`Picture`]; `site.sign_up`: `Shown<User>`; the rest: nothing (`null`).
///
/// For a datasite call, by its reply: a pointer is `Held<PointerView<DataInfo>>` (the kernel holds the
/// pointer; its view carries the mock's info), a value `Held<DataInfo>`, a status a
/// [`PointerStatus`](crate::view::PointerStatus), submitted code a
/// `SubmittedCode<Held<DataInfo>>`, a review its [`Rendered`], and a record or a list of them
/// [`Shown`] (a dataset as `Shown<DatasetView<Shown<AssetView>>>`, a list as `Shown<Vec<Shown<V>>>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "args")]
pub enum KernelCall {
    /// Launches (or opens) a datasite in the kernel, landing the session's previous one.
    #[serde(rename = "site.launch")]
    Launch {
        /// Its name.
        name: String,
        /// Whether to wipe it first.
        reset: bool,
        /// Where it lives, if not under `$VEIL_HOME`.
        #[serde(default)]
        dir: Option<PathBuf>,
        /// Where assets read in place may be (`LaunchOptions::data_root`).
        #[serde(default)]
        data_root: Option<PathBuf>,
    },
    /// Connects to a served datasite (`veil serve`), checking its API version. The session's
    /// datasite stays what it was (`%datasite connect` switches it).
    #[serde(rename = "site.connect")]
    Connect {
        /// Its address, `http://host:port`.
        url: String,
    },
    /// The session's datasite (the one `%datasite launch` or a cell launched).
    #[serde(rename = "site.current")]
    CurrentSite {},
    /// The session's login.
    #[serde(rename = "client.current")]
    CurrentClient {},
    /// Logs in to a datasite the kernel holds.
    #[serde(rename = "site.login")]
    Login {
        /// The datasite.
        site: Handle,
        /// Who.
        email: String,
        /// Their password.
        password: Secret,
    },
    /// Self sign-up on a datasite that allows it.
    #[serde(rename = "site.sign_up")]
    SignUp {
        /// The datasite.
        site: Handle,
        /// Who.
        user: NewUser,
    },
    /// Shuts a datasite down.
    #[serde(rename = "site.land")]
    Land {
        /// The datasite.
        site: Handle,
    },
    /// Forgets a datasite's cached real-side results.
    #[serde(rename = "site.clear_results")]
    ClearResults {
        /// The datasite.
        site: Handle,
    },
    /// The display of any value the kernel holds.
    #[serde(rename = "render")]
    Render {
        /// The value.
        handle: Handle,
    },
    /// Reads a CSV file with a header row into a frame.
    #[serde(rename = "data.read_csv")]
    ReadCsv {
        /// The file, absolute (the kernel's working directory may differ from the cell's).
        path: PathBuf,
    },
    /// Reads a Parquet file into a frame.
    #[serde(rename = "data.read_parquet")]
    ReadParquet {
        /// The file, absolute.
        path: PathBuf,
    },
    /// An array from values in row-major order.
    #[serde(rename = "data.array")]
    Array {
        /// The values.
        values: Vec<f64>,
        /// The shape; its product is the number of values.
        shape: Vec<usize>,
    },
    /// A frame without some of its columns.
    #[serde(rename = "data.drop")]
    Drop {
        /// The frame.
        data: Handle,
        /// The columns to drop.
        columns: Vec<String>,
    },
    /// An op on a cell's own values, evaluated in the kernel and recorded nowhere.
    #[serde(rename = "data.apply")]
    Apply {
        /// The first input.
        data: Handle,
        /// The op.
        op: Op,
        /// The other inputs, for ops that take more than one.
        #[serde(default)]
        others: Vec<Handle>,
    },
    /// An array's or a number's values, as `f64`.
    #[serde(rename = "data.values")]
    Values {
        /// The value.
        data: Handle,
    },
    /// A value as JSON (arrays as shape and values).
    #[serde(rename = "data.json")]
    Json {
        /// The value.
        data: Handle,
    },
    /// A mock of a frame, by a recipe.
    #[serde(rename = "data.mock")]
    Mock {
        /// The frame.
        data: Handle,
        /// How.
        recipe: Recipe,
    },
    /// A plot of a frame the kernel holds for the cell (a mock, a released result).
    #[serde(rename = "data.plot")]
    Plot {
        /// The frame.
        data: Handle,
        /// What to draw.
        plot: PlotSpec,
    },
    /// A pointer's mock, as a value of the cell's.
    #[serde(rename = "pointer.mock")]
    PointerMock {
        /// The pointer.
        pointer: Handle,
    },
    /// A datasite call as a login the kernel holds, with the values it names by part.
    #[serde(rename = "call")]
    Datasite {
        /// The login.
        client: Handle,
        /// The call.
        call: Call,
        /// The values its parts name (an upload's data and mocks), in order.
        #[serde(default)]
        parts: Vec<Handle>,
    },
    /// Lets the kernel drop values no cell holds any more.
    #[serde(rename = "release")]
    Release {
        /// Their handles.
        handles: Vec<Handle>,
    },
}

impl KernelCall {
    /// Every call's wire name.
    pub const NAMES: [&'static str; 21] = [
        "site.launch",
        "site.connect",
        "site.current",
        "client.current",
        "site.login",
        "site.sign_up",
        "site.land",
        "site.clear_results",
        "render",
        "data.read_csv",
        "data.read_parquet",
        "data.array",
        "data.drop",
        "data.apply",
        "data.values",
        "data.json",
        "data.mock",
        "pointer.mock",
        "call",
        "release",
        "data.plot",
    ];

    /// The call's wire name, e.g. `site.login`, for messages.
    pub fn name(&self) -> &'static str {
        let i = match self {
            KernelCall::Launch { .. } => 0,
            KernelCall::Connect { .. } => 1,
            KernelCall::CurrentSite {} => 2,
            KernelCall::CurrentClient {} => 3,
            KernelCall::Login { .. } => 4,
            KernelCall::SignUp { .. } => 5,
            KernelCall::Land { .. } => 6,
            KernelCall::ClearResults { .. } => 7,
            KernelCall::Render { .. } => 8,
            KernelCall::ReadCsv { .. } => 9,
            KernelCall::ReadParquet { .. } => 10,
            KernelCall::Array { .. } => 11,
            KernelCall::Drop { .. } => 12,
            KernelCall::Apply { .. } => 13,
            KernelCall::Values { .. } => 14,
            KernelCall::Json { .. } => 15,
            KernelCall::Mock { .. } => 16,
            KernelCall::PointerMock { .. } => 17,
            KernelCall::Datasite { .. } => 18,
            KernelCall::Release { .. } => 19,
            KernelCall::Plot { .. } => 20,
        };
        KernelCall::NAMES[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_call_keeps_its_wire_name() {
        let calls = [
            KernelCall::Launch {
                name: "s".into(),
                reset: true,
                dir: None,
                data_root: None,
            },
            KernelCall::Connect {
                url: "http://127.0.0.1:8083".into(),
            },
            KernelCall::CurrentSite {},
            KernelCall::CurrentClient {},
            KernelCall::Login {
                site: 1,
                email: "a@b.org".into(),
                password: Secret("pw".into()),
            },
            KernelCall::SignUp {
                site: 1,
                user: NewUser::new("A", "a@b.org", "pw"),
            },
            KernelCall::Land { site: 1 },
            KernelCall::ClearResults { site: 1 },
            KernelCall::Render { handle: 1 },
            KernelCall::ReadCsv { path: "/x".into() },
            KernelCall::ReadParquet { path: "/x".into() },
            KernelCall::Array {
                values: vec![1.0],
                shape: vec![1],
            },
            KernelCall::Drop {
                data: 1,
                columns: vec![],
            },
            KernelCall::Apply {
                data: 1,
                op: Op::Sample { n: 1, seed: 2 },
                others: vec![],
            },
            KernelCall::Values { data: 1 },
            KernelCall::Json { data: 1 },
            KernelCall::Mock {
                data: 1,
                recipe: Recipe::LaplaceNoise {
                    seed: 1,
                    scale: 0.5,
                },
            },
            KernelCall::PointerMock { pointer: 1 },
            KernelCall::Datasite {
                client: 1,
                call: crate::calls::Whoami {}.into(),
                parts: vec![],
            },
            KernelCall::Release { handles: vec![1] },
            KernelCall::Plot {
                data: 1,
                plot: PlotSpec::Hist {
                    column: "x".into(),
                    bins: Some(5),
                },
            },
        ];
        assert_eq!(calls.len(), KernelCall::NAMES.len());
        for call in calls {
            let wire = serde_json::to_value(&call).unwrap();
            assert_eq!(wire["op"], call.name(), "{wire}");
            assert_eq!(serde_json::from_value::<KernelCall>(wire).unwrap(), call);
        }
        // What older facades sent for calls without arguments still reads.
        let current: KernelCall =
            serde_json::from_value(serde_json::json!({"op": "site.current", "args": {}})).unwrap();
        assert_eq!(current, KernelCall::CurrentSite {});
    }
}
