/// Trains a logistic regression to tell malignant (`M`) from benign masses and returns its accuracy on
/// the held-out fifth of the rows (every fifth row), as the tutorial's classifier does.
fn train_classifier(features: DataFrame, targets: DataFrame) -> f64 {
    // The features as a rows x columns matrix, each column standardised.
    let (n, d) = (features.height(), features.width());
    let mut x = Array2::<f64>::zeros((n, d));
    for (j, column) in features.columns().iter().enumerate() {
        let values = column.cast(&DataType::Float64).expect("numeric features");
        for (i, v) in values.f64().expect("floats").iter().enumerate() {
            x[[i, j]] = v.unwrap_or(0.0);
        }
    }
    for mut column in x.columns_mut() {
        let mean = column.mean().unwrap_or(0.0);
        let std = column.std(0.0).max(1e-12);
        column.mapv_inplace(|v| (v - mean) / std);
    }
    let y: Vec<f64> = targets
        .column("Diagnosis")
        .expect("a Diagnosis column")
        .str()
        .expect("text labels")
        .iter()
        .map(|label| if label == Some("M") { 1.0 } else { 0.0 })
        .collect();

    // Every fifth row is held out; the rest train by full-batch gradient descent.
    let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 5 != 0);
    let probability = |w: &Array1<f64>, b: f64, i: usize| 1.0 / (1.0 + (-(x.row(i).dot(w) + b)).exp());
    let (mut w, mut b) = (Array1::<f64>::zeros(d), 0.0);
    for _ in 0..300 {
        let (mut grad_w, mut grad_b) = (Array1::<f64>::zeros(d), 0.0);
        for &i in &train {
            let error = probability(&w, b, i) - y[i];
            grad_w.scaled_add(error, &x.row(i));
            grad_b += error;
        }
        let m = train.len() as f64;
        w.scaled_add(-0.5 / m, &grad_w);
        b -= 0.5 * grad_b / m;
    }
    let correct = test
        .iter()
        .filter(|&&i| (probability(&w, b, i) >= 0.5) == (y[i] == 1.0))
        .count();
    correct as f64 / test.len() as f64
}
