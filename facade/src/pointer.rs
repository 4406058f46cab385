//! Pointers and requests as cells see them. A [`Pointer`] is a handle on the kernel's pointer: every
//! operation runs at once on the mock (in the kernel) and is recorded on the datasite, which replays it
//! on the real data and keeps the result until a request for it is approved.

use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::bridge::{Handle, Rendered, Result, call, rich_via_rendered, shape_field, str_field};
use crate::data::Data;
use crate::site::{Client, SiteAsset};

/// A value on the datasite, seen through its mock. Operations return new pointers; arithmetic
/// operators work with numbers and other pointers: `(&p + 1.0)?`, `(&p * &q)?`.
#[derive(Clone)]
pub struct Pointer {
    handle: Arc<Handle>,
    /// The client that made it: requests for its result are that user's, whoever else is logged in.
    client: Client,
    id: String,
    lineage: Vec<String>,
    kind: String,
    shape: Vec<usize>,
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pointer({} {:?}, from {})",
            self.kind,
            self.shape,
            if self.lineage.is_empty() {
                "your own data".to_string()
            } else {
                self.lineage.join(", ")
            }
        )
    }
}

fn arith(kind: &str, scalar: Option<f64>, scalar_left: bool) -> Value {
    json!({ "op": "arith", "kind": kind, "scalar": scalar, "scalar_left": scalar_left })
}

impl Pointer {
    pub(crate) fn from_reply(client: &Client, reply: &Value) -> Result<Pointer> {
        Ok(Pointer {
            handle: Handle::from_reply(reply)?,
            client: client.clone(),
            id: str_field(reply, "id"),
            lineage: reply["lineage"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect(),
            kind: str_field(reply, "kind"),
            shape: shape_field(reply, "shape"),
        })
    }

    /// Runs `op` (an op of the `veil` crate's `ops::Op`, as JSON) with `others` as further inputs.
    pub fn apply(&self, op: Value, others: &[&Pointer]) -> Result<Pointer> {
        let others: Vec<u64> = others.iter().map(|p| p.handle.id()).collect();
        Pointer::from_reply(
            &self.client,
            &call(
                "pointer.apply",
                json!({ "pointer": self.handle.id(), "op": op, "others": others }),
            )?,
        )
    }

    fn step(&self, op: Value) -> Result<Pointer> {
        self.apply(op, &[])
    }

    fn reduce(&self, kind: &str, axis: Option<usize>) -> Result<Pointer> {
        self.step(json!({ "op": "reduce", "kind": kind, "axis": axis }))
    }

    fn unary(&self, kind: &str) -> Result<Pointer> {
        self.step(json!({ "op": "unary", "kind": kind }))
    }

    fn compare(&self, kind: &str, v: f64) -> Result<Pointer> {
        self.step(json!({ "op": "compare", "kind": kind, "scalar": v }))
    }

    pub(crate) fn rendered(&self) -> Rendered {
        Rendered::live("pointer.render", &self.handle)
    }

    /// The object's id on the datasite.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The assets it derives from (`dataset / asset`); empty for your own arrays.
    pub fn lineage(&self) -> &[String] {
        &self.lineage
    }

    /// The mock's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The mock value.
    pub fn mock(&self) -> Result<Data> {
        Data::from_reply(&call(
            "pointer.mock",
            json!({ "handle": self.handle.id() }),
        )?)
    }

    /// `private`, `requested`, `approved` or `denied: REASON`.
    pub fn status(&self) -> Result<String> {
        call("pointer.status", json!({ "handle": self.handle.id() }))
            .map(|v| v.as_str().unwrap_or_default().to_string())
    }

    /// Asks the owner for the real result, saying why.
    pub fn request(&self, reason: &str) -> Result<Request> {
        let reply = call(
            "pointer.request",
            json!({ "pointer": self.handle.id(), "reason": reason }),
        )?;
        Ok(Request::from_reply(&self.client, &reply))
    }

    /// The real result, once your request is approved (at once for your own arrays).
    pub fn get(&self) -> Result<Data> {
        Data::from_reply(&call("pointer.get", json!({ "handle": self.handle.id() }))?)
    }

    /// `self` to the power `exponent`.
    pub fn pow(&self, exponent: f64) -> Result<Pointer> {
        self.step(arith("pow", Some(exponent), false))
    }
    /// `|x|`.
    pub fn abs(&self) -> Result<Pointer> {
        self.unary("abs")
    }
    /// `√x`.
    pub fn sqrt(&self) -> Result<Pointer> {
        self.unary("sqrt")
    }
    /// `eˣ`.
    pub fn exp(&self) -> Result<Pointer> {
        self.unary("exp")
    }
    /// Natural logarithm.
    pub fn log(&self) -> Result<Pointer> {
        self.unary("log")
    }
    /// Mask (0/1) of `x < v`.
    pub fn lt(&self, v: f64) -> Result<Pointer> {
        self.compare("lt", v)
    }
    /// Mask of `x <= v`.
    pub fn le(&self, v: f64) -> Result<Pointer> {
        self.compare("le", v)
    }
    /// Mask of `x > v`.
    pub fn gt(&self, v: f64) -> Result<Pointer> {
        self.compare("gt", v)
    }
    /// Mask of `x >= v`.
    pub fn ge(&self, v: f64) -> Result<Pointer> {
        self.compare("ge", v)
    }
    /// Mask of `x == v`.
    pub fn eq(&self, v: f64) -> Result<Pointer> {
        self.compare("eq", v)
    }
    /// Mask of `x != v`.
    pub fn ne(&self, v: f64) -> Result<Pointer> {
        self.compare("ne", v)
    }
    /// Sum.
    pub fn sum(&self) -> Result<Pointer> {
        self.reduce("sum", None)
    }
    /// Mean.
    pub fn mean(&self) -> Result<Pointer> {
        self.reduce("mean", None)
    }
    /// Smallest value.
    pub fn min(&self) -> Result<Pointer> {
        self.reduce("min", None)
    }
    /// Largest value.
    pub fn max(&self) -> Result<Pointer> {
        self.reduce("max", None)
    }
    /// Population standard deviation.
    pub fn std(&self) -> Result<Pointer> {
        self.reduce("std", None)
    }
    /// Population variance.
    pub fn var(&self) -> Result<Pointer> {
        self.reduce("var", None)
    }
    /// Index of the largest value (flattened).
    pub fn argmax(&self) -> Result<Pointer> {
        self.reduce("argmax", None)
    }
    /// A reduction along `axis`: `"sum"`, `"mean"`, `"min"`, `"max"`, `"std"`, `"var"` or `"argmax"`.
    pub fn along(&self, axis: usize, reduction: &str) -> Result<Pointer> {
        self.reduce(reduction, Some(axis))
    }
    /// Dot, matrix-vector or matrix-matrix product.
    pub fn dot(&self, other: &Pointer) -> Result<Pointer> {
        self.apply(json!({ "op": "dot" }), &[other])
    }
    /// The axes reversed.
    pub fn t(&self) -> Result<Pointer> {
        self.step(json!({ "op": "transpose" }))
    }
    /// The same values in `shape`.
    pub fn reshape(&self, shape: &[usize]) -> Result<Pointer> {
        self.step(json!({ "op": "reshape", "shape": shape }))
    }
    /// `[start, end)` along each leading axis.
    pub fn slice(&self, ranges: &[std::ops::Range<usize>]) -> Result<Pointer> {
        let ranges: Vec<[usize; 2]> = ranges.iter().map(|r| [r.start, r.end]).collect();
        self.step(json!({ "op": "slice", "ranges": ranges }))
    }
    /// A frame's columns, in this order.
    pub fn select<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<Pointer> {
        let columns: Vec<String> = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        self.step(json!({ "op": "select", "columns": columns }))
    }
    /// One numeric column as a 1-d array.
    pub fn column(&self, name: &str) -> Result<Pointer> {
        self.step(json!({ "op": "column", "name": name }))
    }
    /// A 0/1 mask of the rows whose text column equals `value`.
    pub fn text_equals(&self, column: &str, value: &str) -> Result<Pointer> {
        self.step(json!({ "op": "text_equals", "column": column, "value": value }))
    }
    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Result<Pointer> {
        self.step(json!({ "op": "head", "n": n }))
    }
    /// The number of rows.
    pub fn row_count(&self) -> Result<Pointer> {
        self.step(json!({ "op": "row_count" }))
    }
    /// A frame of numeric columns as a 2-d array.
    pub fn to_array(&self) -> Result<Pointer> {
        self.step(json!({ "op": "to_array" }))
    }
    /// The rows where `mask` is non-zero.
    pub fn filter(&self, mask: &Pointer) -> Result<Pointer> {
        self.apply(json!({ "op": "filter" }), &[mask])
    }
    /// A frame sorted by `by`.
    pub fn sort(&self, by: &str, descending: bool) -> Result<Pointer> {
        self.step(json!({ "op": "sort", "by": by, "descending": descending }))
    }
    /// This frame with `values` as column `name`.
    pub fn with_column(&self, name: &str, values: &Pointer) -> Result<Pointer> {
        self.apply(json!({ "op": "with_column", "name": name }), &[values])
    }
    /// One row per value of `by`, with `(column, aggregate)` results; aggregates are `"count"`,
    /// `"sum"`, `"mean"`, `"min"`, `"max"` and `"std"`.
    pub fn group_by(&self, by: &str, aggs: &[(&str, &str)]) -> Result<Pointer> {
        self.step(json!({ "op": "group_by", "by": by, "aggs": aggs }))
    }
    /// Each value of `column` with its count, most frequent first.
    pub fn value_counts(&self, column: &str) -> Result<Pointer> {
        self.step(json!({ "op": "value_counts", "column": column }))
    }
    /// count, mean, std, min and max of every numeric column.
    pub fn describe(&self) -> Result<Pointer> {
        self.step(json!({ "op": "describe" }))
    }
    /// This frame joined with `other` on column `on`; `left` keeps unmatched rows of this one.
    pub fn join(&self, other: &Pointer, on: &str, left: bool) -> Result<Pointer> {
        self.apply(json!({ "op": "join", "on": on, "left": left }), &[other])
    }
    /// Columns of a 2-d array scaled to mean 0 and standard deviation 1.
    pub fn standardize(&self) -> Result<Pointer> {
        self.step(json!({ "op": "standardize" }))
    }
    /// The training rows of a seeded split (`test_fraction` of the rows go to the test set).
    pub fn train_rows(&self, test_fraction: f64, seed: u64) -> Result<Pointer> {
        self.step(
            json!({ "op": "split", "test_fraction": test_fraction, "seed": seed, "test": false }),
        )
    }
    /// The test rows of the same split as [`Pointer::train_rows`].
    pub fn test_rows(&self, test_fraction: f64, seed: u64) -> Result<Pointer> {
        self.step(
            json!({ "op": "split", "test_fraction": test_fraction, "seed": seed, "test": true }),
        )
    }
    /// Logistic regression of `targets` (0/1) on these features: the weights, bias first.
    pub fn logistic_fit(
        &self,
        targets: &Pointer,
        iterations: usize,
        learning_rate: f64,
    ) -> Result<Pointer> {
        self.apply(
            json!({ "op": "logistic_fit", "iterations": iterations, "learning_rate": learning_rate }),
            &[targets],
        )
    }
    /// 0/1 predictions of these weights on `features`.
    pub fn predict(&self, features: &Pointer) -> Result<Pointer> {
        self.apply(json!({ "op": "logistic_predict" }), &[features])
    }
    /// The share of these predictions equal to `truth`.
    pub fn accuracy(&self, truth: &Pointer) -> Result<Pointer> {
        self.apply(json!({ "op": "accuracy" }), &[truth])
    }
    /// `[[tn, fp], [fn, tp]]` of these predictions against `truth`.
    pub fn confusion_matrix(&self, truth: &Pointer) -> Result<Pointer> {
        self.apply(json!({ "op": "confusion_matrix" }), &[truth])
    }
}

macro_rules! operator {
    ($trait:ident, $method:ident, $kind:literal) => {
        impl std::ops::$trait<f64> for &Pointer {
            type Output = Result<Pointer>;
            fn $method(self, rhs: f64) -> Result<Pointer> {
                self.step(arith($kind, Some(rhs), false))
            }
        }
        impl std::ops::$trait<&Pointer> for &Pointer {
            type Output = Result<Pointer>;
            fn $method(self, rhs: &Pointer) -> Result<Pointer> {
                self.apply(arith($kind, None, false), &[rhs])
            }
        }
        impl std::ops::$trait<&Pointer> for f64 {
            type Output = Result<Pointer>;
            fn $method(self, rhs: &Pointer) -> Result<Pointer> {
                rhs.step(arith($kind, Some(self), true))
            }
        }
    };
}
operator!(Add, add, "add");
operator!(Sub, sub, "sub");
operator!(Mul, mul, "mul");
operator!(Div, div, "div");
operator!(Rem, rem, "rem");

impl std::ops::Neg for &Pointer {
    type Output = Result<Pointer>;
    fn neg(self) -> Result<Pointer> {
        self.unary("neg")
    }
}

rich_via_rendered!(Pointer => Pointer::rendered);

impl SiteAsset {
    /// A pointer to this asset: its mock here, its real data on the datasite. The pointer the asset
    /// already holds, if it has one.
    pub fn pointer(&self) -> Result<Pointer> {
        match &self.held {
            Some(p) => Ok(p.clone()),
            None => self.new_pointer(),
        }
    }

    pub(crate) fn new_pointer(&self) -> Result<Pointer> {
        Pointer::from_reply(
            self.client(),
            &call(
                "asset.pointer",
                json!({ "client": self.client().id(), "dataset": self.dataset, "asset": self.name }),
            )?,
        )
    }
}

impl Client {
    /// A new array on the datasite from the notebook: yours, so `get()` needs no request.
    pub fn array(&self, values: impl Into<Vec<f64>>) -> Result<Pointer> {
        Pointer::from_reply(
            self,
            &call(
                "client.array",
                json!({ "client": self.id(), "values": values.into() }),
            )?,
        )
    }

    /// Requests: an owner sees everyone's, a scientist its own. Newest first.
    pub fn requests(&self) -> Result<RequestList> {
        let reply = call("client.requests", json!({ "handle": self.id() }))?;
        Ok(RequestList {
            requests: reply["requests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| Request::from_reply(self, r))
                .collect(),
            rendered: Rendered::from_reply(&reply["rendered"]),
        })
    }

    /// The request whose id starts with `id`.
    pub fn request(&self, id: &str) -> Result<Request> {
        let reply = call("client.request", json!({ "client": self.id(), "id": id }))?;
        Ok(Request::from_reply(self, &reply))
    }
}

/// A request: for a pointer's real result, or to run submitted code on the real data.
#[derive(Clone)]
pub struct Request {
    /// Its id.
    pub id: String,
    /// Its number on the datasite (`#3`), as `%requests` shows it.
    pub number: i64,
    /// Who asked.
    pub requester: String,
    /// Why.
    pub reason: String,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    /// The reason given with a denial.
    pub decision: Option<String>,
    /// The client that read it: the request acts as that user, always.
    client: Client,
    rendered: Rendered,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

impl Request {
    pub(crate) fn from_reply(client: &Client, reply: &Value) -> Request {
        Request {
            id: str_field(reply, "id"),
            number: reply["number"].as_i64().unwrap_or_default(),
            requester: str_field(reply, "requester"),
            reason: str_field(reply, "reason"),
            status: str_field(reply, "status"),
            decision: reply["decision"].as_str().map(str::to_string),
            client: client.clone(),
            rendered: Rendered::from_reply(&reply["rendered"]),
        }
    }

    fn call(&self, op: &str, reason: Option<&str>) -> Result<Value> {
        call(
            op,
            json!({ "client": self.client.id(), "id": self.id, "reason": reason }),
        )
    }

    /// What an owner reads before deciding: who, why, the steps, mock and real results.
    pub fn review(&self) -> Result<Review> {
        Ok(Review {
            rendered: Rendered::from_reply(&self.call("request.review", None)?),
        })
    }

    /// Approves: the real result is released to the requester.
    pub fn approve(&self) -> Result<Request> {
        let reply = self.call("request.approve", None)?;
        Ok(Request::from_reply(&self.client, &reply))
    }

    /// Denies, with a reason the requester sees.
    pub fn deny(&self, reason: &str) -> Result<Request> {
        let reply = self.call("request.deny", Some(reason))?;
        Ok(Request::from_reply(&self.client, &reply))
    }

    /// The released result, for the requester once approved: a pointer's real result, or the latest
    /// result of approved code (run now if it has not run yet).
    pub fn get(&self) -> Result<Data> {
        Data::from_reply(&self.call("request.get", None)?)
    }

    /// Approved code: runs it again, if its output policy has a run left.
    pub fn run(&self) -> Result<Data> {
        Data::from_reply(&self.call("request.run", None)?)
    }

    /// Owners: runs a code request on the real data now, for your eyes only; nothing is released and
    /// the output policy is not used.
    pub fn run_privately(&self) -> Result<Data> {
        Data::from_reply(&self.call("request.run_privately", None)?)
    }
}

/// An owner's review of a request.
#[derive(Clone)]
pub struct Review {
    rendered: Rendered,
}

impl fmt::Debug for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

/// Requests, newest first.
#[derive(Clone)]
pub struct RequestList {
    /// The requests.
    pub requests: Vec<Request>,
    rendered: Rendered,
}

impl fmt::Debug for RequestList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

impl std::ops::Deref for RequestList {
    type Target = [Request];
    fn deref(&self) -> &[Request] {
        &self.requests
    }
}

rich_via_rendered!(
    Request => |r: &Request| r.rendered.clone(),
    Review => |r: &Review| r.rendered.clone(),
    RequestList => |r: &RequestList| r.rendered.clone(),
);
