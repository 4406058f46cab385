//! The analysis steps (group-by, describe, joins, the model steps) through the evaluator.

use super::*;
use ndarray::array;
use polars::prelude::DataType;

use super::tests::df;

fn col_f64(d: &Data, name: &str) -> Vec<f64> {
    let df = d.as_frame().unwrap();
    let c = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
    c.f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn col_str(d: &Data, name: &str) -> Vec<String> {
    let df = d.as_frame().unwrap();
    let c = df.column(name).unwrap().cast(&DataType::String).unwrap();
    c.str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("null").to_string())
        .collect()
}

#[test]
fn group_by_value_counts_and_describe() {
    let d = df();
    let g = eval(
        &Op::GroupBy {
            by: "label".into(),
            aggs: vec![
                ("x".into(), Agg::Mean),
                ("n".into(), Agg::Sum),
                ("x".into(), Agg::Count),
                ("x".into(), Agg::Max),
                ("n".into(), Agg::Min),
                ("x".into(), Agg::Std),
            ],
        },
        &[&d],
    )
    .unwrap();
    assert_eq!(col_str(&g, "label"), ["B", "M"]);
    assert_eq!(col_f64(&g, "x_mean"), [1.0, 2.5]);
    assert_eq!(col_f64(&g, "n_sum"), [10.0, 50.0]);
    assert_eq!(col_f64(&g, "count"), [1.0, 2.0]);
    assert_eq!(col_f64(&g, "x_max"), [1.0, 3.0]);
    assert_eq!(col_f64(&g, "n_min"), [10.0, 20.0]);
    assert_eq!(col_f64(&g, "x_std"), [0.0, 0.5]);
    let text = eval(
        &Op::GroupBy {
            by: "x".into(),
            aggs: vec![("label".into(), Agg::Sum)],
        },
        &[&d],
    )
    .unwrap_err();
    assert!(text.to_string().contains("not numbers"), "{text}");

    let vc = eval(
        &Op::ValueCounts {
            column: "label".into(),
        },
        &[&d],
    )
    .unwrap();
    assert_eq!(col_str(&vc, "label"), ["M", "B"]);
    assert_eq!(col_f64(&vc, "count"), [2.0, 1.0]);

    let desc = eval(&Op::Describe, &[&d]).unwrap();
    assert_eq!(
        col_str(&desc, "statistic"),
        ["count", "mean", "std", "min", "max"]
    );
    let x = array![3.0, 1.0, 2.0];
    assert_eq!(col_f64(&desc, "x"), [3.0, 2.0, x.std(0.0), 1.0, 3.0]);
    assert!(desc.as_frame().unwrap().column("label").is_err());
}

#[test]
fn joins_inner_and_left() {
    let d = df();
    let weights = Data::Frame(
        DataFrame::new_infer_height(vec![
            Column::new("label".into(), ["M", "Q"]),
            Column::new("x".into(), [0.5, 9.0]),
        ])
        .unwrap(),
    );
    let inner = eval(
        &Op::Join {
            on: "label".into(),
            left: false,
        },
        &[&d, &weights],
    )
    .unwrap();
    assert_eq!(col_f64(&inner, "x"), [3.0, 2.0]);
    assert_eq!(col_f64(&inner, "x_right"), [0.5, 0.5]);
    let left = eval(
        &Op::Join {
            on: "label".into(),
            left: true,
        },
        &[&d, &weights],
    )
    .unwrap();
    assert_eq!(left.as_frame().unwrap().height(), 3);
    let right = col_f64(&left, "x_right");
    assert!(right[1].is_nan(), "B has no match: {right:?}");
    let missing = eval(
        &Op::Join {
            on: "nope".into(),
            left: false,
        },
        &[&d, &weights],
    );
    assert!(missing.is_err());
}

#[test]
fn machine_learning_steps() {
    let x = Data::F64(array![[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]].into_dyn());
    let z = eval(&Op::Standardize, &[&x]).unwrap();
    let z2 = z.as_f64().unwrap();
    let col0: Vec<f64> = z2.index_axis(Axis(1), 0).iter().copied().collect();
    assert!((col0.iter().sum::<f64>()).abs() < 1e-12);
    assert!((array![1.0_f64, 2.0, 3.0, 4.0].std(0.0) * col0[3] - 1.5).abs() < 1e-12);
    assert!(
        z2.index_axis(Axis(1), 1).iter().all(|v| *v == 0.0),
        "constant column centred"
    );

    let split = |test| Op::Split {
        test_fraction: 0.25,
        seed: 7,
        test,
    };
    let train = eval(&split(false), &[&x]).unwrap();
    let test = eval(&split(true), &[&x]).unwrap();
    assert_eq!((train.shape(), test.shape()), (vec![3, 2], vec![1, 2]));
    let mut all: Vec<f64> = train
        .as_f64()
        .unwrap()
        .index_axis(Axis(1), 0)
        .iter()
        .copied()
        .collect();
    all.extend(test.as_f64().unwrap().index_axis(Axis(1), 0).iter());
    all.sort_by(f64::total_cmp);
    assert_eq!(all, [1.0, 2.0, 3.0, 4.0], "a split partitions the rows");
    let y = Data::F64(array![0.0, 0.0, 1.0, 1.0].into_dyn());
    let y_test = eval(&split(true), &[&y]).unwrap();
    assert_eq!(
        y_test.as_f64().unwrap()[[0]] == 1.0,
        test.as_f64().unwrap()[[0, 0]] > 2.5,
        "features and targets split alike"
    );
    assert!(
        eval(
            &Op::Split {
                test_fraction: 1.5,
                seed: 1,
                test: true
            },
            &[&x]
        )
        .is_err()
    );

    let fit = Op::LogisticFit {
        iterations: 500,
        learning_rate: 0.5,
    };
    let w = eval(&fit, &[&z, &y]).unwrap();
    assert_eq!(w.shape(), [3]);
    assert!(
        w.as_f64().unwrap()[[1]] > 0.0,
        "radius-like feature pushes towards 1"
    );
    let pred = eval(&Op::LogisticPredict, &[&w, &z]).unwrap();
    assert_eq!(
        pred.as_f64().unwrap().to_owned(),
        array![0.0, 0.0, 1.0, 1.0].into_dyn()
    );
    let acc = eval(&Op::Accuracy, &[&pred, &y]).unwrap();
    assert_eq!(acc.as_f64().unwrap().sum(), 1.0);
    let wrong = Data::F64(array![1.0, 0.0, 1.0, 1.0].into_dyn());
    let cm = eval(&Op::ConfusionMatrix, &[&wrong, &y]).unwrap();
    assert_eq!(
        cm.as_f64().unwrap().to_owned(),
        array![[1.0, 1.0], [0.0, 2.0]].into_dyn()
    );
    assert_eq!(
        eval(&Op::Accuracy, &[&wrong, &y])
            .unwrap()
            .as_f64()
            .unwrap()
            .sum(),
        0.75
    );
    let bad_targets = Data::F64(array![0.0, 2.0, 1.0, 1.0].into_dyn());
    assert!(
        eval(&fit, &[&z, &bad_targets])
            .unwrap_err()
            .to_string()
            .contains("0 or 1")
    );
    let short = Data::F64(array![0.0, 1.0].into_dyn());
    assert!(eval(&fit, &[&z, &short]).is_err());
    assert!(
        eval(&Op::LogisticPredict, &[&short, &z])
            .unwrap_err()
            .to_string()
            .contains("weights")
    );
}
