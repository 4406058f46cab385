//! The evaluator against hand-computed results, NumPy and pandas semantics.

use super::*;
use ndarray::{Array1, array};

fn arr(values: &[f64], shape: &[usize]) -> Data {
    Data::F64(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap())
}

fn f(d: &Data) -> ArrayD<f64> {
    d.as_f64().unwrap().clone()
}

#[test]
fn ops_round_trip_through_json_with_their_tag() {
    let op = Op::Reduce {
        kind: Reduce::Sum,
        axis: Some(0),
    };
    let json = serde_json::to_string(&op).unwrap();
    assert_eq!(json, r#"{"op":"reduce","kind":"sum","axis":0}"#);
    assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
    assert!(serde_json::from_str::<Op>(r#"{"op":"launch_missiles"}"#).is_err());
}

/// Every element-wise op kind, with the scalar on either side.
fn elementwise_steps() -> Vec<Op> {
    let mut steps = Vec::new();
    for kind in [
        Arith::Add,
        Arith::Sub,
        Arith::Mul,
        Arith::Div,
        Arith::Rem,
        Arith::Pow,
    ] {
        for scalar_left in [false, true] {
            steps.push(Op::Arith {
                kind,
                scalar: Some(1.5),
                scalar_left,
            });
        }
    }
    for kind in [Unary::Neg, Unary::Abs, Unary::Sqrt, Unary::Exp, Unary::Log] {
        steps.push(Op::Unary { kind });
    }
    for kind in [
        Compare::Lt,
        Compare::Le,
        Compare::Gt,
        Compare::Ge,
        Compare::Eq,
        Compare::Ne,
    ] {
        steps.push(Op::Compare {
            kind,
            scalar: Some(0.5),
        });
    }
    steps
}

fn one_by_one(
    column: Option<&str>,
    input: &Data,
    steps: &[&Op],
    reduce: Option<&Op>,
) -> Result<Data> {
    let mut value = match column {
        Some(name) => eval(&Op::Column { name: name.into() }, &[input])?,
        None => input.clone(),
    };
    for op in steps.iter().copied().chain(reduce) {
        value = eval(op, &[&value])?;
    }
    Ok(value)
}

/// Equal, NaN included (0.0 ^ negative powers, logs of negatives).
fn same_values(a: &Data, b: &Data) -> bool {
    let (a, b) = (f(a), f(b));
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn fused_steps_equal_the_steps_one_by_one() {
    // More values than a block, over two chunks, with negatives, zero and fractions.
    let values: Vec<f64> = (0..5000).map(|i| (i as f64 - 2500.0) / 7.0).collect();
    let mut chunked = Column::new("x".into(), &values[..3000]);
    chunked
        .append(&Column::new("x".into(), &values[3000..]))
        .unwrap();
    let frame = Data::Frame(
        DataFrame::new_infer_height(vec![
            chunked,
            Column::new("n".into(), (0..5000_i64).collect::<Vec<_>>()),
            Column::new(
                "gaps".into(),
                (0..5000)
                    .map(|i| (i % 3 > 0).then_some(i as f64))
                    .collect::<Vec<_>>(),
            ),
            Column::new("label".into(), vec!["M"; 5000]),
        ])
        .unwrap(),
    );
    let array = arr(&values, &[50, 100]);
    let strided = Data::F64(f(&array).reversed_axes());
    let steps = elementwise_steps();
    let mut reductions = vec![None];
    for kind in [
        Reduce::Sum,
        Reduce::Mean,
        Reduce::Min,
        Reduce::Max,
        Reduce::Var,
    ] {
        reductions.push(Some(Op::Reduce { kind, axis: None }));
    }
    for (i, op) in steps.iter().enumerate() {
        let next = &steps[(i + 7) % steps.len()];
        let run: Vec<&Op> = vec![op, next, &steps[0]];
        for (column, input) in [
            (Some("x"), &frame),
            (Some("n"), &frame),
            (Some("gaps"), &frame),
            (None, &array),
            (None, &strided),
        ] {
            for reduce in &reductions {
                let fused = eval_fused(column, input, &run, reduce.as_ref()).unwrap();
                let expect = one_by_one(column, input, &run, reduce.as_ref()).unwrap();
                assert!(
                    same_values(&fused, &expect),
                    "{run:?} then {reduce:?} on {column:?} differ"
                );
            }
        }
    }
    // The errors are the step-by-step ones.
    let run = [&steps[0]];
    for (column, input) in [
        (Some("missing"), &frame),
        (Some("label"), &frame),
        (Some("x"), &array),
        (None, &frame),
    ] {
        assert_eq!(
            eval_fused(column, input, &run, None)
                .unwrap_err()
                .to_string(),
            one_by_one(column, input, &run, None)
                .unwrap_err()
                .to_string()
        );
    }
    // A column reduced with no steps between, and an empty array (whose min is an error).
    let sum = Op::Reduce {
        kind: Reduce::Sum,
        axis: None,
    };
    assert!(same_values(
        &eval_fused(Some("x"), &frame, &[], Some(&sum)).unwrap(),
        &one_by_one(Some("x"), &frame, &[], Some(&sum)).unwrap()
    ));
    let min = Op::Reduce {
        kind: Reduce::Min,
        axis: None,
    };
    let empty = arr(&[], &[0]);
    assert_eq!(
        eval_fused(None, &empty, &[&steps[0]], Some(&min))
            .unwrap_err()
            .to_string(),
        one_by_one(None, &empty, &[&steps[0]], Some(&min))
            .unwrap_err()
            .to_string()
    );
}

#[test]
fn arithmetic_broadcasts_like_numpy() {
    let a = arr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = arr(&[10.0, 20.0, 30.0], &[3]);
    let add = Op::Arith {
        kind: Arith::Add,
        scalar: None,
        scalar_left: false,
    };
    let expect = f(&a) + &f(&b);
    assert_eq!(f(&eval(&add, &[&a, &b]).unwrap()), expect);
    let bad_shape = arr(&[1.0, 2.0], &[2]);
    let err = eval(&add, &[&a, &bad_shape]).unwrap_err();
    assert!(err.to_string().contains("do not broadcast"), "{err}");
    let minus = Op::Arith {
        kind: Arith::Sub,
        scalar: Some(1.0),
        scalar_left: true,
    };
    assert_eq!(f(&eval(&minus, &[&b]).unwrap()), f(&b).mapv(|x| 1.0 - x));
}

#[test]
fn every_scalar_and_unary_op_matches_ndarray() {
    let a = arr(&[1.0, 4.0, 9.0, 16.0], &[4]);
    let x = f(&a);
    for (kind, expect) in [
        (Arith::Add, x.mapv(|v| v + 2.0)),
        (Arith::Sub, x.mapv(|v| v - 2.0)),
        (Arith::Mul, x.mapv(|v| v * 2.0)),
        (Arith::Div, x.mapv(|v| v / 2.0)),
        (Arith::Rem, x.mapv(|v| v % 2.0)),
        (Arith::Pow, x.mapv(|v| v.powf(2.0))),
    ] {
        let op = Op::Arith {
            kind,
            scalar: Some(2.0),
            scalar_left: false,
        };
        assert_eq!(f(&eval(&op, &[&a]).unwrap()), expect, "{kind:?}");
    }
    for (kind, expect) in [
        (Unary::Neg, x.mapv(|v| -v)),
        (Unary::Abs, x.mapv(f64::abs)),
        (Unary::Sqrt, x.mapv(f64::sqrt)),
        (Unary::Exp, x.mapv(f64::exp)),
        (Unary::Log, x.mapv(f64::ln)),
    ] {
        assert_eq!(
            f(&eval(&Op::Unary { kind }, &[&a]).unwrap()),
            expect,
            "{kind:?}"
        );
    }
    for (kind, expect) in [
        (Compare::Lt, [1.0, 0.0, 0.0, 0.0]),
        (Compare::Le, [1.0, 1.0, 0.0, 0.0]),
        (Compare::Gt, [0.0, 0.0, 1.0, 1.0]),
        (Compare::Ge, [0.0, 1.0, 1.0, 1.0]),
        (Compare::Eq, [0.0, 1.0, 0.0, 0.0]),
        (Compare::Ne, [1.0, 0.0, 1.0, 1.0]),
    ] {
        let op = Op::Compare {
            kind,
            scalar: Some(4.0),
        };
        assert_eq!(
            f(&eval(&op, &[&a]).unwrap()),
            Array1::from(expect.to_vec()).into_dyn(),
            "{kind:?}"
        );
    }
}

#[test]
fn reductions_whole_and_per_axis_match_ndarray() {
    let a = arr(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]);
    let x = f(&a);
    let whole = |kind| {
        f(&eval(&Op::Reduce { kind, axis: None }, &[&a]).unwrap())
            .into_iter()
            .next()
            .unwrap()
    };
    assert_eq!(whole(Reduce::Sum), x.sum());
    assert_eq!(whole(Reduce::Mean), x.mean().unwrap());
    assert_eq!(whole(Reduce::Min), 1.0);
    assert_eq!(whole(Reduce::Max), 6.0);
    assert_eq!(whole(Reduce::Var), x.var(0.0));
    assert_eq!(whole(Reduce::Std), x.std(0.0));
    assert_eq!(whole(Reduce::Argmax), 5.0);
    let axis = |kind, a_: usize| {
        f(&eval(
            &Op::Reduce {
                kind,
                axis: Some(a_),
            },
            &[&a],
        )
        .unwrap())
    };
    assert_eq!(axis(Reduce::Sum, 0), x.sum_axis(Axis(0)));
    assert_eq!(axis(Reduce::Mean, 1), x.mean_axis(Axis(1)).unwrap());
    assert_eq!(axis(Reduce::Min, 0), array![1.0, 2.0, 3.0].into_dyn());
    assert_eq!(axis(Reduce::Max, 1), array![5.0, 6.0].into_dyn());
    assert_eq!(axis(Reduce::Std, 0), x.std_axis(Axis(0), 0.0));
    assert_eq!(axis(Reduce::Var, 1), x.var_axis(Axis(1), 0.0));
    assert_eq!(axis(Reduce::Argmax, 1), array![1.0, 2.0].into_dyn());
    let err = eval(
        &Op::Reduce {
            kind: Reduce::Sum,
            axis: Some(2),
        },
        &[&a],
    )
    .unwrap_err();
    assert!(err.to_string().contains("axis 2 is out of range"), "{err}");
    let empty = arr(&[], &[0]);
    assert!(
        eval(
            &Op::Reduce {
                kind: Reduce::Mean,
                axis: None
            },
            &[&empty]
        )
        .is_err()
    );
}

#[test]
fn linear_algebra_and_shapes() {
    let m = arr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let v = arr(&[1.0, 0.0, -1.0], &[3]);
    let mv = eval(&Op::Dot, &[&m, &v]).unwrap();
    assert_eq!(f(&mv), array![-2.0, -2.0].into_dyn());
    let t = eval(&Op::Transpose, &[&m]).unwrap();
    assert_eq!(f(&t), f(&m).reversed_axes());
    let mm = eval(&Op::Dot, &[&m, &t]).unwrap();
    let m2 = f(&m).into_dimensionality::<ndarray::Ix2>().unwrap();
    assert_eq!(f(&mm), m2.dot(&m2.t()).into_dyn());
    assert_eq!(f(&eval(&Op::Dot, &[&v, &v]).unwrap()), scalar(2.0));
    assert!(
        eval(&Op::Dot, &[&m, &m])
            .unwrap_err()
            .to_string()
            .contains("do not multiply")
    );
    let r = eval(&Op::Reshape { shape: vec![3, 2] }, &[&m]).unwrap();
    assert_eq!(r.shape(), [3, 2]);
    assert!(eval(&Op::Reshape { shape: vec![4] }, &[&m]).is_err());
    let s = eval(
        &Op::Slice {
            ranges: vec![(1, 2), (0, 2)],
        },
        &[&m],
    )
    .unwrap();
    assert_eq!(f(&s), array![[4.0, 5.0]].into_dyn());
    assert!(
        eval(
            &Op::Slice {
                ranges: vec![(0, 3)]
            },
            &[&m]
        )
        .is_err()
    );
    let h = eval(&Op::Head { n: 1 }, &[&m]).unwrap();
    assert_eq!(f(&h), array![[1.0, 2.0, 3.0]].into_dyn());
    assert_eq!(f(&eval(&Op::RowCount, &[&m]).unwrap()), scalar(2.0));
}

pub(super) fn df() -> Data {
    Data::Frame(
        DataFrame::new_infer_height(vec![
            Column::new("x".into(), [3.0, 1.0, 2.0]),
            Column::new("n".into(), [30_i64, 10, 20]),
            Column::new("label".into(), ["M", "B", "M"]),
        ])
        .unwrap(),
    )
}

#[test]
fn frame_ops_match_polars() {
    let d = df();
    let real = d.as_frame().unwrap();
    let sel = eval(
        &Op::Select {
            columns: vec!["n".into(), "x".into()],
        },
        &[&d],
    )
    .unwrap();
    assert_eq!(sel.as_frame().unwrap(), &real.select(["n", "x"]).unwrap());
    let absent = eval(
        &Op::Select {
            columns: vec!["radius".into()],
        },
        &[&d],
    )
    .unwrap_err();
    assert!(absent.to_string().contains("x, n, label"), "{absent}");
    let col = eval(&Op::Column { name: "n".into() }, &[&d]).unwrap();
    assert_eq!(f(&col), array![30.0, 10.0, 20.0].into_dyn());
    let text = eval(
        &Op::Column {
            name: "label".into(),
        },
        &[&d],
    )
    .unwrap_err();
    assert!(text.to_string().contains("text_equals"), "{text}");
    let m = eval(
        &Op::TextEquals {
            column: "label".into(),
            value: "M".into(),
        },
        &[&d],
    )
    .unwrap();
    assert_eq!(f(&m), array![1.0, 0.0, 1.0].into_dyn());
    let filtered = eval(&Op::Filter, &[&d, &m]).unwrap();
    let expect = real
        .filter(&BooleanChunked::from_slice(
            "m".into(),
            &[true, false, true],
        ))
        .unwrap();
    assert_eq!(filtered.as_frame().unwrap(), &expect);
    let sorted = eval(
        &Op::Sort {
            by: "x".into(),
            descending: true,
        },
        &[&d],
    )
    .unwrap();
    assert_eq!(
        sorted.as_frame().unwrap(),
        &real
            .sort(
                ["x"],
                SortMultipleOptions::default().with_order_descending(true)
            )
            .unwrap()
    );
    let arr2 = eval(&Op::ToArray, &[&sel]).unwrap();
    assert_eq!(
        f(&arr2),
        array![[30.0, 3.0], [10.0, 1.0], [20.0, 2.0]].into_dyn()
    );
    assert!(eval(&Op::ToArray, &[&d]).is_err(), "text columns refuse");
    let doubled = eval(
        &Op::Arith {
            kind: Arith::Mul,
            scalar: Some(2.0),
            scalar_left: false,
        },
        &[&col],
    )
    .unwrap();
    let with = eval(&Op::WithColumn { name: "n2".into() }, &[&d, &doubled]).unwrap();
    assert_eq!(
        f(&eval(&Op::Column { name: "n2".into() }, &[&with]).unwrap()),
        array![60.0, 20.0, 40.0].into_dyn()
    );
    assert_eq!(f(&eval(&Op::RowCount, &[&d]).unwrap()), scalar(3.0));
    let head = eval(&Op::Head { n: 2 }, &[&d]).unwrap();
    assert_eq!(head.as_frame().unwrap(), &real.head(Some(2)));
    let not_frame = eval(&Op::Select { columns: vec![] }, &[&col]).unwrap_err();
    assert!(
        not_frame.to_string().contains("works on frames"),
        "{not_frame}"
    );
    let short_mask = arr(&[1.0], &[1]);
    assert!(eval(&Op::Filter, &[&d, &short_mask]).is_err());
}

#[test]
fn literals_and_arity_are_checked() {
    let lit = Op::Literal {
        values: vec![4.0, 5.0, 6.0],
        shape: vec![3],
    };
    assert_eq!(
        f(&eval(&lit, &[]).unwrap()),
        array![4.0, 5.0, 6.0].into_dyn()
    );
    let bad = Op::Literal {
        values: vec![1.0],
        shape: vec![2],
    };
    assert!(eval(&bad, &[]).is_err());
    assert!(
        eval(&Op::Dot, &[&arr(&[1.0], &[1])])
            .unwrap_err()
            .to_string()
            .contains("inputs")
    );
    assert_eq!(
        describe(
            &Op::Arith {
                kind: Arith::Add,
                scalar: Some(1.0),
                scalar_left: false
            },
            &["jane's asset".into()]
        ),
        "jane's asset + 1"
    );
}

#[test]
fn ops_whose_output_grows_with_the_data_are_refused_before_they_allocate() {
    // A column times a row, by product or broadcast, makes n² values: 2^28 here, over the bound.
    let n = 1 << 14;
    let column = arr(&vec![1.0; n], &[n, 1]);
    let row = arr(&vec![1.0; n], &[1, n]);
    let add = Op::Arith {
        kind: Arith::Add,
        scalar: None,
        scalar_left: false,
    };
    for op in [Op::Dot, add.clone()] {
        let e = eval(&op, &[&column, &row]).unwrap_err().to_string();
        assert!(e.contains("most one operation may make"), "{op:?}: {e}");
    }
    // Within the bound they run.
    let (column, row) = (arr(&[1.0; 300], &[300, 1]), arr(&[2.0; 300], &[1, 300]));
    assert_eq!(
        eval(&Op::Dot, &[&column, &row]).unwrap().shape(),
        [300, 300]
    );
    assert_eq!(eval(&add, &[&column, &row]).unwrap().shape(), [300, 300]);
    // A key repeated on both sides of a join multiplies rows: 12000² rows of 4 columns.
    let keys = Data::Frame(
        DataFrame::new_infer_height(vec![
            Column::new("k".into(), vec!["a"; 12_000]),
            Column::new("x".into(), vec![1.0; 12_000]),
        ])
        .unwrap(),
    );
    let join = Op::Join {
        on: "k".into(),
        left: false,
    };
    let e = eval(&join, &[&keys, &keys]).unwrap_err().to_string();
    assert!(e.contains("most one operation may make"), "{e}");
}
